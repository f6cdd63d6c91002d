"""Pictures drawn statically and, in an interactive frontend with ipywidgets, also with sliders (explore, Knob);
figures shown as soon as they are drawn (shown); the source of the functions a notebook discusses (show_source)."""
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


def explore(fn: Callable[..., Any], widgets: bool | None = None, **knobs: Knob) -> Any:
    """Draw fn(**defaults) now (a static picture that needs no widget, so headless runs show it), then, in an
    interactive frontend with ipywidgets installed, offer the same function with sliders to explore.
    widgets: None = interactive_frontend(). Returns the static call's result."""
    import matplotlib.pyplot as plt

    result = fn(**{k: v.value for k, v in knobs.items()})
    plt.show()
    if widgets is None:
        widgets = interactive_frontend()
    if widgets:
        try:
            import ipywidgets
            from IPython.display import display
        except ImportError:  # pragma: no cover - the static picture above is the fallback
            return result
        controls = {k: v.widget(k) for k, v in knobs.items()}
        ui = ipywidgets.VBox(list(controls.values()))
        out = ipywidgets.interactive_output(lambda **kw: (fn(**kw), plt.show()), controls)
        display(ipywidgets.HTML("<i>Move the sliders to redraw the picture above with other values:</i>"), ui, out)
    return result


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
