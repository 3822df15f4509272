"""Pure rules of the plans service (no I/O, no SQL): the plan tree and its codes (``tree``), the
measure lifecycle and who may do what (``lifecycle``), grade scales and grading (``grading``)."""
