"""Small mechanisms every command relies on to lose nothing and never be silently wrong.

* :mod:`~trainlab.safety.text`: bounded ``repr`` for error messages;
* :mod:`~trainlab.safety.strict_yaml`: the one YAML loader (duplicate keys, alias bombs, non-UTF-8,
  directories refused with one line), and JSON files read with one-line errors;
* :mod:`~trainlab.safety.strict_types`: numbers in recipes are finite and never booleans;
* :mod:`~trainlab.safety.locks`: an exclusive lock on a directory that dies with its process;
* :mod:`~trainlab.safety.redaction`: passwords in URIs hidden wherever a command line is written.

They depend on nothing in trainlab but :mod:`trainlab.errors`, so every layer may use them.
"""
