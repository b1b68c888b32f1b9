"""Load benchmarks of Tessera against a same-run baseline (``make bench``).

Not part of the installed package nor of ``make test``; see bench/README.md."""
