# JupyterLab for the kit's notebooks: `make lab` starts it from the repository root with this file.
# Saving a notebook writes it without outputs (mmft_kit/notebook/saving.py), so git sees only edited cells
# and the notebook tests stay green; figures and metrics.json of a run go to runs/<notebook>/.
c = get_config()  # noqa: F821 - Jupyter's config loader defines it
c.ContentsManager.pre_save_hook = "mmft_kit.notebook.saving.strip_before_save"
c.LabApp.default_url = "/lab/tree/notebooks"
