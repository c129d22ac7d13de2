# brain_data.type neural_assembly: a recording in Brain-Score's brainio form. Its paths,
# the options of its responses and its input functions; no rules (those are in
# neural_assembly.smk; the interface is described in dataset_common.smk).
from lrrsa.data import neural_assembly

# Where the run reads the assembly, its stimulus CSV and images (generated, downloaded,
# local, or rebuilt from THINGS ids and images).
ASSEMBLY = neural_assembly.dataset_files(BRAIN, RESULTS)
THINGS_STIMULI = BRAIN["source"] != "demo" and neural_assembly.things_images(BRAIN)
# The options that choose and average the responses, the same in every job.
ASSEMBLY_RESPONSES = {
    "time_window": neural_assembly.time_window(BRAIN),
    "reliability_threshold": neural_assembly.reliability_threshold(BRAIN),
    "reliability_method": neural_assembly.reliability_method(BRAIN),
}
# Each subject's animal in the recording (a pooled recording has one subject).
SUBJECT_ANIMALS = {subject: neural_assembly.animal_of(subject) for subject in SUBJECTS}


# ---- the interface (dataset_common.smk) ------------------------------------------
def brain_inputs():
    """Inputs of rules that read the stimulus images: the images taken for this run."""
    return {"images": STIMULUS_IMAGES}


def brain_images_dir():
    """The folder holding object_images/<concept>/<stimulus> that models and pixel RDM read."""
    return STIMULUS_IMAGES


def split_half_rdms():
    """Odd/even-repetition brain RDMs per ROI (compute_brainio_split_half_rdms)."""
    return [results(f"rdms/brain_split/{roi}.npz") for roi in ROIS]


def brain_reports():
    """Outputs that describe the brain data (neuroid counts per ROI and subject)."""
    return [results("data/roi_voxels.tsv")]
