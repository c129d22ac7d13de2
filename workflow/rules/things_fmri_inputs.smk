# brain_data.type things_fmri: its paths, flags and input functions; no rules (those are
# in things_fmri.smk; the interface is described in dataset_common.smk).
# Downloaded: betas_csv.zip -> each subject's files (metadata and responses apart) ->
# stimulus table -> the selected stimuli's images out of images_THINGS.zip (both archives
# downloaded once per run: downloads.smk). A local folder or zip named in the config
# replaces the download of its archive; the demo generates a folder of the same layout.
from lrrsa.data.shared_downloads import THINGS_ARCHIVE_FILES

DEMO_THINGS = "resources/demo/things"
THINGS_BETAS = "resources/things-fmri/betas_csv"
# Which archives this dataset extracts (downloaded, where no local zip is named).
EXTRACT_BETAS = BRAIN["source"] == "download" and not BRAIN["betas_dir"]
EXTRACT_IMAGES = BRAIN["source"] == "download" and not BRAIN["images_dir"]
# The encoding images extracted from the THINGS archive, per run (downloaded archives only).
ENCODING_IMAGES = results("data/encoding_images")


# ---- the interface (dataset_common.smk) ------------------------------------------
def brain_inputs():
    """Inputs of rules that read the stimulus images: the generated demo folder, the
    images extracted for this run, or the local images folder."""
    if BRAIN["source"] == "demo":
        return {"dataset": DEMO_THINGS}
    return {"images": brain_images_dir()}


def brain_images_dir():
    """The folder holding object_images/<concept>/<stimulus> that models and pixel RDM read."""
    if BRAIN["source"] == "demo":
        return f"{DEMO_THINGS}/images"
    return STIMULUS_IMAGES if EXTRACT_IMAGES else BRAIN["images_dir"]


def split_half_rdms():
    """Odd/even-session brain RDMs per ROI (compute_split_half_rdms)."""
    return [results(f"rdms/brain_split/{roi}.npz") for roi in ROIS]


def brain_reports():
    """Outputs that describe the brain data (voxel counts per ROI and subject)."""
    return [results("data/roi_voxels.tsv")]


# ---- the betas and images -------------------------------------------------------
def brain_betas_dir():
    """The betas_csv folder the brain jobs read (generated, extracted or local)."""
    if BRAIN["source"] == "demo":
        return f"{DEMO_THINGS}/betas_csv"
    return THINGS_BETAS if EXTRACT_BETAS else BRAIN["betas_dir"]


def betas_zip():
    return BRAIN["betas_zip"] or THINGS_ARCHIVE_FILES["betas"]


def images_zip():
    return BRAIN["images_zip"] or THINGS_ARCHIVE_FILES["images"]


def subject_file(subject, kind):
    """One file of a subject in the betas folder; kind: ResponseData.h5, VoxelMetadata.csv, ..."""
    return f"{brain_betas_dir()}/{subject}_{kind}"


def roi_masks(roi, subjects):
    """The NIfTI mask files among an ROI's items, for these subjects."""
    masks = [i for i in BRAIN["rois"][roi] if i.lower().endswith((".nii", ".nii.gz"))]
    return list(dict.fromkeys(m.replace("{subject}", s) for m in masks for s in subjects))


def brain_subject_inputs(subject, kinds=("ResponseData.h5", "VoxelMetadata.csv", "StimulusMetadata.csv")):
    """Inputs that hold a subject's THINGS-fMRI files: the generated demo folder, or the files."""
    if BRAIN["source"] == "demo":
        return {"dataset": DEMO_THINGS}
    return {kind.split(".")[0]: subject_file(subject, kind) for kind in kinds}


def brain_rdm_inputs(subject, rois=ROIS):
    """Inputs of one subject's brain RDMs of these ROIs."""
    masks = [mask for roi in rois for mask in roi_masks(roi, [subject])]
    return {**brain_subject_inputs(subject), "roi_masks": list(dict.fromkeys(masks))}


def split_half_inputs(roi):
    """Inputs of compute_split_half_rdms: every subject's brain files for this ROI."""
    inputs = {}
    for subject in SUBJECTS:
        for key, value in brain_rdm_inputs(subject, [roi]).items():
            inputs.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return {key: list(dict.fromkeys(values)) for key, values in inputs.items()}


def brain_metadata_inputs():
    """Every subject's StimulusMetadata (or the generated demo folder that holds them)."""
    if BRAIN["source"] == "demo":
        return {"dataset": DEMO_THINGS}
    return {"metadata": [subject_file(s, "StimulusMetadata.csv") for s in SUBJECTS]}


def stimulus_selection_inputs():
    """Inputs of select_stimuli: every subject's StimulusMetadata (and, where the images
    are already unpacked, their folder, so the selection checks them)."""
    inputs = {**stimulus_list_input(), **brain_metadata_inputs()}
    if BRAIN["source"] == "demo":
        return inputs
    if not EXTRACT_IMAGES:
        inputs["images"] = brain_images_dir()
    return inputs


def roi_count_inputs():
    """Inputs of count_roi_voxels: every subject's VoxelMetadata and the NIfTI masks."""
    if BRAIN["source"] == "demo":
        return {"dataset": DEMO_THINGS}
    return {
        "voxels": [subject_file(s, "VoxelMetadata.csv") for s in SUBJECTS],
        "roi_masks": [m for roi in ROIS for m in roi_masks(roi, SUBJECTS)],
    }


# ---- encoding models (encoding.smk) -------------------------------------------------
def encoding_images_dir():
    """The folder holding object_images/<concept>/<stimulus> of the encoding images."""
    if BRAIN["source"] == "demo":
        return f"{DEMO_THINGS}/images"
    return ENCODING_IMAGES if EXTRACT_IMAGES else BRAIN["images_dir"]


def encoding_image_inputs():
    if BRAIN["source"] == "demo":
        return {"dataset": DEMO_THINGS}
    return {"images": encoding_images_dir()}
