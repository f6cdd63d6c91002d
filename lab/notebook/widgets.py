"""Pictures shown once each: a function's picture with sliders that redraw it in place in an interactive frontend
(explore, Knob; headless runs get the picture alone), figures shown as soon as they are drawn (shown); the source
of the functions a notebook discusses (show_source)."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from lab.notebook.session import interactive_frontend


@dataclass
class Knob:
    """One control of `explore`: a default value and either a (min, max, step) range or a list of options."""

    value: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    options: Sequence | None = None
    label: str = ""

    def widget(self, name: str):
        import ipywidgets as w

        desc = self.label or name
        style = {"description_width": "initial"}
        if self.options is not None:
            return w.Dropdown(options=list(self.options), value=self.value, description=desc, style=style)
        cls = w.IntSlider if all(isinstance(v, int) for v in (self.value, self.low, self.high, self.step)) \
            else w.FloatSlider
        return cls(value=self.value, min=self.low, max=self.high, step=self.step, description=desc,
                   continuous_update=False, style=style)


def explore(fn: Callable[..., Any], widgets: bool | None = None, **knobs: Knob) -> None:
    """Show fn(**defaults) (its pyplot figures, then what it returns unless None: a table, say) and, in an
    interactive frontend with ipywidgets installed, sliders that redraw it in place with other values.

    Each picture is drawn once: fn runs once for the defaults (the sliders start from that picture, they do not
    draw it again) and once per change, and explore returns nothing, so the cell's value shows nothing a second
    time. widgets: None = interactive_frontend(); headless runs get the picture without widgets."""
    defaults = {k: v.value for k, v in knobs.items()}
    if widgets is None:
        widgets = interactive_frontend()
    try:
        import ipywidgets
        from IPython.display import clear_output, display
    except ImportError:  # pragma: no cover - ipywidgets ships with the requirements
        widgets = False
    if not widgets:
        show_call(fn, defaults)
        return
    controls = {k: v.widget(k) for k, v in knobs.items()}
    out = ipywidgets.Output()

    def redraw(_change=None) -> None:
        with out:
            clear_output(wait=True)
            show_call(fn, {k: c.value for k, c in controls.items()})

    for control in controls.values():
        control.observe(redraw, "value")
    display(out, ipywidgets.HTML("<i>Move the sliders to redraw the picture above with other values:</i>"),
            ipywidgets.VBox(list(controls.values())))
    redraw()


def show_call(fn: Callable[..., Any], kwargs: dict) -> None:
    """Call fn(**kwargs) and show what it made, each thing once: its open pyplot figures (plt.show draws and
    closes them), then its result unless that is None or one of those figures."""
    import matplotlib.pyplot as plt
    from IPython.display import display
    from matplotlib.figure import Figure

    result = fn(**kwargs)
    drawn_by_show = isinstance(result, Figure) and plt.fignum_exists(getattr(result, "number", -1))
    plt.show()
    if result is not None and not drawn_by_show:
        display(result)


def shown(draw: Callable[..., Any]) -> Callable[..., Any]:
    """`draw` (a lab.viz function that returns a figure, or None when there is nothing to draw) that also shows
    the figure at once (plt.show), so it stands where the call is in the notebook's output."""
    @functools.wraps(draw)
    def show(*args, **kwargs):
        import matplotlib.pyplot as plt

        fig = draw(*args, **kwargs)
        if fig is not None:
            plt.show()
        return fig

    return show


def show_source(*objects) -> None:
    """Print the source of lab functions/classes (the implementation the notebook discusses, never a copy)."""
    import inspect

    for obj in map(inspect.unwrap, objects):  # a `shown` figure: the lab.viz function it shows
        name = f"{obj.__module__}.{obj.__qualname__}"
        print(f"# ---- {name}  ({inspect.getsourcefile(obj).split('/lab/')[-1]})")
        print(inspect.getsource(obj))
