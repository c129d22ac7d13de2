# brain_data.type rdm_set: its input functions; no rules (those are in rdm_set.smk; the
# interface is described in dataset_common.smk).


# ---- the interface (dataset_common.smk) ------------------------------------------
def brain_inputs():
    """Inputs of rules that read the stimulus images: the images linked for this run."""
    return {"images": brain_images_dir()}


def brain_images_dir():
    """The folder holding object_images/<concept>/<stimulus> that models and pixel RDM read."""
    return STIMULUS_IMAGES


def split_half_rdms():
    """None: an rdm_set has no trials to split."""
    return []


def brain_reports():
    """None: an rdm_set has no voxel counts."""
    return []
