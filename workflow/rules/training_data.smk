# The training set the networks learn from: the demo's generated images, CIFAR-10
# downloaded, or a local image folder.


rule make_demo_training_images:
    output:
        DEMO_TRAINING_ZIP,
    params:
        demo=DEMO_TRAINING,
    log:
        DEMO_TRAINING_ZIP.replace("resources/demo/", "resources/logs/demo/").removesuffix(".zip") + ".log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/make_demo_training_images.py"


rule download_cifar10:
    output:
        CIFAR10_ARCHIVE,
    params:
        url=config["training_data"]["url"],
        md5=config["training_data"]["md5"],
    log:
        "resources/logs/cifar10/download.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=120,
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
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/analysis.yaml"
    script:
        "../scripts/prepare_training_set.py"
