"""Pure rules of the indicators service: no I/O, no SQL, no clock reads (``now`` is an argument).

:mod:`.model` holds indicator definitions, reporting periods, report validation and who may
report (``may_report_for``); :mod:`.evaluation` the evaluation rules; :mod:`.definitions` the
rules of defining indicators and revising targets; :mod:`.reports` the rules of a batch of
reports (duplicates, refusals).
"""
