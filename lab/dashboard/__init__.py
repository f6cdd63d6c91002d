"""The Streamlit dashboard (app.py runs page.main): the page and its sidebar (page, common), one file per view
(compare_view, inspect_view, train_view), their cached data (data) and the checks on uploaded images (upload).
The views lay out what lab.runner computes and lab.viz draws."""
