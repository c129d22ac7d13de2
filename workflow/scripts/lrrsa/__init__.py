"""lrrsa: learning-rule RSA.

The library behind the workflow: data sources, models and learning rules,
activation caching, RDMs, RSA scores, statistics and figures. Every Snakemake
script in ``workflow/scripts`` is a thin entry point onto one function here.
"""

__version__ = "0.1.0"
