# The THINGS archives, downloaded once per run for every dataset that reads them (a
# THINGS-fMRI dataset, a recording on THINGS images such as Papale2025), on the machine
# that runs Snakemake (localrule: compute nodes of a cluster often have no internet).
# A dataset with a local copy of an archive reads that instead (docs/DATA.md).

if "betas" in THINGS_DOWNLOADS:

    rule download_things_betas:
        output:
            THINGS_ARCHIVE_FILES["betas"],
        params:
            dataset="betas",
            what="THINGS-fMRI betas_csv.zip",
            size=THINGS_DOWNLOADS["betas"]["betas_size"],
            md5=THINGS_DOWNLOADS["betas"]["betas_md5"],
        log:
            "resources/logs/things-fmri/download.log",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=1440,
        localrule: True
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/download_things_archive.py"


if "images" in THINGS_DOWNLOADS:

    rule download_things_images:
        output:
            THINGS_ARCHIVE_FILES["images"],
        params:
            dataset="images",
            what="THINGS images archive (images_THINGS.zip)",
            size=THINGS_DOWNLOADS["images"]["images_size"],
            md5=THINGS_DOWNLOADS["images"]["images_md5"],
        log:
            "resources/logs/things-images/download.log",
        threads: 1
        resources:
            mem_mb=1000,
            runtime=600,
        localrule: True
        conda:
            "../../envs/analysis.yaml"
        script:
            "../scripts/download_things_archive.py"
