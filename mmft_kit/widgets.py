"""ipywidgets previews for the notebooks: controls wired to core functions and :mod:`mmft_kit.viz`, no logic
of their own.

Every preview is a :class:`LivePreview`: a few controls, a ``render`` function of their values
(a core function: it returns data) and a ``draw`` function of that data (what is shown: figures
from :mod:`mmft_kit.viz`, tables, text). Changing a control renders and draws again into the
preview's output area; the last data stays in ``.result``, so a test can set ``control.value``
and look at what changed, without a browser or a kernel. Notebooks show these previews when
their run is live (:func:`mmft_kit.notebook.is_live`): in JupyterLab by default.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Image, clear_output, display
from matplotlib.figure import Figure

from . import viz
from .captions.preview import caption_preview
from .embeddings import EmbeddingView
from .errors import MMFTKitError
from .io import atomic_write_text
from .params.base import Params, bounds

_WIDE = widgets.Layout(width="95%")


def _as_shown(result: Any) -> list:
    return [result]


def _picture(item: Any) -> Any:
    """A figure as a PNG image (drawn and closed here, whatever the kernel's matplotlib backend); else ``item``."""
    if not isinstance(item, Figure):
        return item
    buffer = io.BytesIO()
    item.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(item)
    return Image(data=buffer.getvalue(), format="png")


class LivePreview:
    """Controls plus an output area that shows ``draw(render(**values))`` after every change.

    ``render`` errors of the kit (a bad template while typing, an unreadable data set) are
    shown as text and kept in ``.error`` instead of breaking the preview.
    """

    def __init__(self, controls: Mapping[str, widgets.ValueWidget], render: Callable[..., Any],
                 extras: Sequence[widgets.Widget] = (), draw: Callable[[Any], Sequence[Any]] = _as_shown) -> None:
        self.controls = dict(controls)
        self.render = render
        self.draw = draw
        self.extras = list(extras)
        self.output = widgets.Output()
        self.result: Any = None
        self.error: str | None = None
        self.renders = 0
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        self.refresh()

    def values(self) -> dict[str, Any]:
        """The controls' current values by name."""
        return {name: control.value for name, control in self.controls.items()}

    def refresh(self) -> None:
        """Render with the current values and show the result."""
        try:
            self.result, self.error = self.render(**self.values()), None
        except MMFTKitError as exc:
            self.result, self.error = None, str(exc)
        self.renders += 1
        shown = [] if self.error is not None else [_picture(item) for item in self.draw(self.result)]
        with self.output:
            clear_output(wait=True)
            if self.error is not None:
                print(f"error: {self.error}")
            for item in shown:
                display(item)

    def _changed(self, change: dict) -> None:
        self.refresh()

    @property
    def widget(self) -> widgets.Widget:
        """Controls above the output area."""
        return widgets.VBox([*self.controls.values(), *self.extras, self.output])

    def _ipython_display_(self) -> None:
        display(self.widget)


def _blank_to_none(text: str) -> str | None:
    return text.strip() or None


def show_preview(preview) -> list:
    """What a caption preview shows: the first prompt, the captioned images, the summary table."""
    from IPython.display import Markdown

    return [Markdown(f"**Prompt** (first image): {preview.prompt}"), viz.preview_figure(preview),
            viz.table(preview.summary)]


def _slider(params: Params, name: str, description: str | None = None) -> widgets.IntSlider:
    """A slider over field ``name`` of ``params``, at its value, over the range its model declares."""
    low, high = bounds(type(params), name)
    return widgets.IntSlider(value=getattr(params, name), min=low, max=high, description=description or name,
                             continuous_update=False)


def show_leaderboard(leaderboard, chance: float | None = None) -> list:
    """What a prompt leaderboard shows: its table (best first) and its bars (score ± s.e.)."""
    from .train.prompt_score import LEADERBOARD_COLUMNS

    rows = leaderboard.rows()
    if not rows:
        return []
    labels = [{**row, "prompt": f"#{row['rank']} {row['characteristics']}, {row['words']} w: {row['template']}"}
              for row in rows]
    return [viz.table(rows, LEADERBOARD_COLUMNS), viz.prompt_score_bars(labels, label="prompt", chance=chance,
                                                                         title="prompts tried in this notebook")]


def prompt_designer(captioner, params: Params, save_to: str | Path | None = None, leaderboard=None,
                    score_params: Params | None = None) -> LivePreview:
    """Edit the caption prompt and see, for sample images of any registry data set, the captions
    ``captioner`` writes with their length and generation time
    (:func:`mmft_kit.captions.preview.caption_preview`).

    ``params``: notebook 01's parameters (dataset, template, characteristic, words, domain, class_name,
    samples, seed, root): the controls start at their values, the sliders span their declared ranges.
    Controls: data set, template, characteristic, words, domain (blank: the data set's), class
    (blank: each image's own), samples. With ``save_to``, a button saves the template there. With a
    ``leaderboard`` (:class:`mmft_kit.train.prompt_score.Leaderboard`) and ``score_params``
    (:class:`mmft_kit.params.prompts.PromptScoreParams`), every edit also scores the prompt
    (:func:`mmft_kit.train.prompt_score.score_prompt`, with the edited data set, template, characteristic, words and
    domain) and shows the leaderboard of every prompt tried so far below the previews.
    """
    p = params
    dataset, root, seed = p.dataset, p.root, p.seed
    from .captions import load_library, resolve_template
    from .data import list_datasets
    from .train.data import load_split

    names = list(dict.fromkeys([dataset, *list_datasets()]))
    classes = load_split(dataset, root, "train").classnames
    controls = {
        "dataset": widgets.Dropdown(options=names, value=dataset, description="data set"),
        "template": widgets.Textarea(value=resolve_template(p.template), description="template", layout=_WIDE,
                                     continuous_update=False, rows=3),
        "characteristic": widgets.Combobox(value=p.characteristic, options=list(load_library().characteristics),
                                           description="characteristic", ensure_option=False, continuous_update=False),
        "words": _slider(p, "words"),
        "domain": widgets.Text(value=p.domain or "", placeholder="(the data set's)", description="domain",
                               continuous_update=False),
        "class_name": widgets.Combobox(value=p.class_name or "", options=list(classes),
                                       placeholder="(each image's own)",
                                       description="class", ensure_option=False, continuous_update=False),
        "samples": _slider(p, "samples"),
    }

    def new_classes(change: dict) -> None:
        try:
            controls["class_name"].options = list(load_split(change["new"], root, "train").classnames)
        except MMFTKitError:
            controls["class_name"].options = []

    controls["dataset"].observe(new_classes, names="value")

    def render(dataset, template, characteristic, words, domain, class_name, samples):
        characteristic = characteristic.strip() or "visual"
        preview = caption_preview(load_split(dataset, root, "train"), captioner, [characteristic], samples=samples,
                                  seed=seed, words=words, template=template, domain=_blank_to_none(domain),
                                  class_name=_blank_to_none(class_name))
        if leaderboard is not None:
            from .train.prompt_score import score_prompt

            leaderboard.add(score_prompt(score_params, captioner=captioner, dataset=dataset, template=template,
                                         characteristics=[characteristic], words=words,
                                         domain=_blank_to_none(domain)))
        return preview

    def draw(preview) -> list:
        return show_preview(preview) + ([] if leaderboard is None else show_leaderboard(leaderboard))

    extras = []
    if save_to is not None:
        button, status = widgets.Button(description="save template"), widgets.Label()

        def save(_button) -> None:
            atomic_write_text(save_to, controls["template"].value.strip() + "\n")
            status.value = f"saved to {save_to}"

        button.on_click(save)
        extras = [widgets.HBox([button, status])]
    return LivePreview(controls, render, extras, draw=draw)


def caption_browser(dataset, indices: Sequence[int], captions: Sequence[Mapping[str, str]]) -> LivePreview:
    """Step through images of ``dataset`` (at ``indices``) with their captions (characteristic → caption)."""
    from .data.items import dataset_image, dataset_info, dataset_label

    classnames = dataset_info(dataset)[0]
    slider = widgets.IntSlider(value=0, min=0, max=len(indices) - 1, description="image")

    def render(position: int) -> Figure:
        index = indices[position]
        text = "\n".join(f"[{name}] {caption}" for name, caption in captions[position].items())
        title = f"#{index}: {classnames[dataset_label(dataset, index)]}"
        return viz.caption_grid([dataset_image(dataset, index)], [text], titles=[title], width=70)

    return LivePreview({"position": slider}, render)


def choice_preview(options: Sequence[str], render: Callable[[str], Any], description: str = "show",
                   value: str | None = None) -> LivePreview:
    """A drop-down of ``options`` opened on ``value`` (default: the first); shows ``render(option)``."""
    control = widgets.Dropdown(options=list(options), value=options[0] if value is None else value,
                               description=description)
    return LivePreview({"option": control}, lambda option: render(option))


def class_picker(views: Mapping[str, EmbeddingView], classnames: Sequence[str], projections: Sequence[str],
                 seed: int = 0) -> LivePreview:
    """Pick classes and a projection; shows :func:`mmft_kit.viz.embedding_figure` of ``views``."""
    controls = {
        "classes": widgets.SelectMultiple(options=list(classnames), value=tuple(classnames), description="classes",
                                          rows=min(8, len(classnames))),
        "method": widgets.Dropdown(options=list(projections), value=projections[0], description="projection"),
    }
    return LivePreview(controls, lambda classes, method: viz.embedding_figure(views, classnames, method,
                                                                              list(classes), seed))


def gate_explorer(model, task, source, k: int, count: int = 4) -> LivePreview:
    """Slide the number of replaced patches ``k`` and the first sample; shows :func:`mmft_kit.viz.gate_figure`."""
    from .pare.inspect import gate_view

    max_k = min(model.embedder.num_tokens, model.source_embedder.num_tokens)
    last = max(0, min(len(task.x_val), len(source.images)) - count)
    controls = {
        "k": widgets.IntSlider(value=min(k, max_k), min=0, max=max_k, description="k", continuous_update=False),
        "start": widgets.IntSlider(value=0, min=0, max=last, description="first sample", continuous_update=False),
    }
    return LivePreview(controls, lambda k, start: gate_view(model, task, source, k, count, start),
                       draw=lambda view: [viz.gate_figure(view)])
