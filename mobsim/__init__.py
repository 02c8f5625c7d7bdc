"""mobsim: the command-line tool over the simulator, the reference server and the scenarios."""

__version__ = "0.1.0"
