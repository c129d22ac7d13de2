# The reader's tables and the run record: summary.md, the paper comparison, config, versions.


def report_outputs():
    return []
