"""The claims, one module each: ``c<NN>_<topic>.py`` decorates its experiment with
:func:`trainlab.labs.lab`. Nothing imports these modules by name; :func:`trainlab.labs.all_labs`
finds and imports them, so a new module here is a new lab."""
