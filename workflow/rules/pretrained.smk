# Published reference networks (conditions with rule: pretrained): their weights,
# downloaded once by torchvision on the machine that runs Snakemake (localrule: compute
# nodes often have no internet) with its SHA-256 check. A condition's weights_file
# replaces the download. Each dataset extracts them in activations.smk.

if PRETRAINED_DOWNLOADS:

    rule fetch_pretrained_weights:
        output:
            f"{WEIGHTS_DIR}/{{file}}",
        params:
            reference=lambda w: PRETRAINED_DOWNLOADS[w.file],
        wildcard_constraints:
            file="|".join(re.escape(name) for name in PRETRAINED_DOWNLOADS),
        log:
            "resources/logs/pretrained/{file}.log",
        threads: 1
        resources:
            mem_mb=4000,
            runtime=120,
        localrule: True
        conda:
            "../../envs/torch.yaml"
        script:
            "../scripts/fetch_pretrained_weights.py"
