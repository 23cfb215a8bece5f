"""Interoperability with ODK Collect, KoboToolbox and Enketo: XLSForm export (and, later, OpenRosa and imports)."""
