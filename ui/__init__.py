"""Pure builders of Plotly figures and captions from core objects (Trajectory, schedules, Split).

No ``st.*`` calls and no training here: the pages in ``views/`` call these and render the results.
"""
