"""Test support shared by the suites: in-memory fakes of the layer's ports (see ``fakes``)."""
