# Data: the training set and the brain dataset (stimulus table) of this run.


rule make_demo_training_images:
    output:
        DEMO_TRAINING_ZIP,
    params:
        demo=config["demo"],
    log:
        "resources/logs/demo/training_images.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/make_demo_training_images.py"


rule make_demo_brain_dataset:
    output:
        directory(DEMO_THINGS),
    params:
        demo=config["demo"],
        subjects=SUBJECTS,
    log:
        "resources/logs/demo/things.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/make_demo_brain_dataset.py"


rule download_cifar10:
    output:
        CIFAR10_ARCHIVE,
    params:
        url=config["training_data"]["url"],
        md5=config["training_data"]["md5"],
    log:
        "resources/logs/cifar10/download.log",
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/download_cifar10.py"


rule prepare_training_set:
    input:
        training_source(),
    output:
        results("data/training_set.npz"),
    params:
        source=config["training_data"]["source"],
        md5=config["training_data"]["md5"],
        n_train=config["training_data"]["n_train"],
        n_test=config["training_data"]["n_test"],
        seed=config["training_data"]["seed"],
    log:
        log_of("data/training_set"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/prepare_training_set.py"


rule select_stimuli:
    input:
        **brain_inputs(),
    output:
        results("data/stimuli.tsv"),
    params:
        betas_dir=brain_betas_dir(),
        images_dir=brain_images_dir(),
        subjects=SUBJECTS,
        rule=config["brain_data"]["stimuli"],
        stimulus_list=config["brain_data"]["stimulus_list"],
    log:
        log_of("data/stimuli"),
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/select_stimuli.py"
