"""Print, as JSON, what Snakemake records of every planned job's params for a config file.

    python tests/job_params.py WORKDIR CONFIGFILE

Snakemake reruns a job when the set of ``repr`` of its params (those not derived from
input or output) differs from the one it recorded with the job's outputs
(snakemake.persistence.Persistence._params); this builds the DAG as a dry run does and
prints {"<rule> <wildcards>": {"params": those reprs, "not_plain": [names of params
holding a type other than None, bool, int, float, str, list or dict]}}. Run in its own
process: the Snakemake API changes the working directory and the logging.
"""

import json
import sys
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

SNAKEFILE = Path(__file__).resolve().parents[1] / "Snakefile"
PLAIN = (type(None), bool, int, float, str, list, dict)


def is_plain(value) -> bool:
    """Only the types a YAML config gives, all the way down."""
    if type(value) not in PLAIN:
        return False
    if isinstance(value, dict):
        return all(is_plain(k) and is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(is_plain(v) for v in value)
    return True


def job_params(workdir: Path, configfile: Path) -> dict[str, dict]:
    # Private Snakemake API (pinned to 9.x by pyproject.toml): what a dry run builds, and
    # the persistence's own serialisation of the params it compares.
    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        workflow_api = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=SNAKEFILE, workdir=workdir,
                                    config_settings=ConfigSettings(configfiles=[configfile]))
        workflow_api.dag(DAGSettings())  # gives the workflow its DAG settings
        workflow = workflow_api._workflow
        workflow._prepare_dag(forceall=False, ignore_incomplete=True, lock_warn_only=True)
        workflow._build_dag()
        jobs = {}
        for job in workflow.dag.jobs:
            not_plain = [name for name, value in job.params.items() if not is_plain(value)]
            jobs[f"{job.rule.name} {job.wildcards_dict}"] = {"params": workflow.persistence._params(job),
                                                            "not_plain": not_plain}
        return jobs


if __name__ == "__main__":
    print(json.dumps(job_params(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()), indent=1, sort_keys=True))
