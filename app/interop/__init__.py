"""Interoperability with ODK Collect, KoboCollect, Enketo, ODK Central and KoboToolbox: the XLSForm, OpenRosa
and imports of their exports."""
