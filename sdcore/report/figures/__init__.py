"""The claim pages' figures, each beside its claim: one module per claim module, named as it is
(``student_beats_teacher`` holds page 01's figures, its boundary study's included;
``amplified_regularization`` 02a's; ``multi_view`` 02b's; ``flatter_minima`` 03's;
``loss_landscape`` 04's), and ``common`` for what more than one page draws (the note shown where
there is nothing to draw, roles beside comparisons, predictions, the flatness measures' forest and
scatter, the matplotlib forest plot of the judged effects). Each function takes a claim's tables
and returns a matplotlib ``Figure``, or an ``interactive.ScreenAndPrint`` (plotly on screen, the
matplotlib figure in print); the forest plot's interactive side is ``report.interactive.forest``.
"""
