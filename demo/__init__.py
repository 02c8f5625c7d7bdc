"""Demo traffic: a realistic audience with weeks of history, as SDK requests (``mobsim demo``)."""
