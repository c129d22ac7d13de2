# Output paths and the wildcards of the trained networks, shared by the run's rules and
# each dataset's (the includer defines RESULTS, RUN_RESULTS, CONDITIONS and LAYERS).


def results(path):
    """A path inside this results folder (the run's, or a dataset's inside it)."""
    return f"{RESULTS}/{path}"


def run_results(path):
    """A path inside the run's results folder: the training set and trained networks."""
    return f"{RUN_RESULTS}/{path}"


def log_of(path):
    """The log file that mirrors an output path."""
    return f"{RESULTS}/logs/{path}.log"


def benchmark_of(path):
    return f"{RESULTS}/benchmarks/{path}.tsv"


wildcard_constraints:
    condition="|".join(CONDITIONS),
    seed=r"\d+",
    layer="|".join(LAYERS),
