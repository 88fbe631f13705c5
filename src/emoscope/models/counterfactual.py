"""Counterfactual context debiasing (CLEF, Yang et al. CVPR 2024) around any context-aware model.

Two branches predict the same label space: the *factual* model ``Y_e`` (any registered
context-aware MODELS entry; it sees the subject and the scene) and a non-invasive *context
branch* ``Y_c`` (a backbone on the scene with the subject's pixels set to zero). A fusion
``phi`` combines their logits into the training prediction ``Y_{c,e}``. For the counterfactual
"subject not seen" the factual output is replaced by ``Y_e*``, a learnable vector shared by all
samples (initialised to zero logits: uniform over classes for a softmax, 0.5 for a sigmoid);
"context not seen" uses ``Y_c*``, fixed zero logits (it cancels out of TIE).

    TE  = phi(Y_c, Y_e)  - phi(Y_c*, Y_e*)
    NDE = phi(Y_c, Y_e*) - phi(Y_c*, Y_e*)
    TIE = TE - NDE = phi(Y_c, Y_e) - phi(Y_c, Y_e*)      (used at inference)

Fusions (``phi`` gives log-probabilities; ``space="prob"`` takes differences of probabilities):

- ``sum``: the fused logits are ``Y_c + Y_e``; a softmax (single-label) or sigmoid
  (multi-label) of them, i.e. ``log sigma(Y_c + Y_e)`` (counterfactual VQA's SUM).
- ``harmonic``: per class ``z = sigma(Y_c) sigma(Y_e)`` and ``p = z / (1 + z)`` (its HM);
  single-label renormalises over the classes.

Multi-label stability (public reproductions diverge when ``log sigma`` scores are fed to a
BCE-with-logits loss as if they were logits): the fusion stays in probability space, the loss
is the Bernoulli likelihood of ``p`` itself computed from ``log p`` and ``log(1 - p)``, logits
are soft-clamped (``clamp * tanh(x / clamp)``), effects are differences of probabilities
(bounded in [-1, 1]) and the factual model may warm up alone (see ``clef_loss``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from emoscope.errors import UserError
from emoscope.models.backbones import PretrainedMode, backbone_preprocessing, build_backbone
from emoscope.models.multistream import feature_width
from emoscope.registry import MODELS

Kind = Literal["single_label", "multi_label"]
FUSION_CHOICES = ("sum", "harmonic")
SPACE_CHOICES = ("log", "prob")
OUTPUT_KEYS = ("logits", "categories")  # the factual model's class scores, first one present


def soft_clamp(logits: torch.Tensor, bound: float) -> torch.Tensor:
    """``bound * tanh(x / bound)``: about ``x`` for small logits, never beyond +-bound, and
    unlike a hard clamp it keeps a gradient everywhere. ``bound <= 0`` leaves logits as they are."""
    return logits if bound <= 0 else bound * torch.tanh(logits / bound)


def fused_log_prob(context_logits: torch.Tensor, subject_logits: torch.Tensor, fusion: str,
                   kind: Kind) -> torch.Tensor:
    """``phi`` as log-probabilities (N, C): per class for multi-label, over classes otherwise."""
    if fusion == "sum":
        joint = context_logits + subject_logits
        return F.logsigmoid(joint) if kind == "multi_label" else F.log_softmax(joint, dim=-1)
    if fusion == "harmonic":
        log_z = F.logsigmoid(context_logits) + F.logsigmoid(subject_logits)
        log_p = log_z - F.softplus(log_z)  # log(z / (1 + z))
        return log_p if kind == "multi_label" else F.log_softmax(log_p, dim=-1)
    raise UserError(f"unknown counterfactual fusion '{fusion}'; known: {', '.join(FUSION_CHOICES)}")


def log1mexp(log_p: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(a))`` for ``a < 0`` without cancellation (Maechler 2012)."""
    a = log_p.clamp(max=-1e-7)
    return torch.where(a > -math.log(2.0), torch.log(-torch.expm1(a)), torch.log1p(-torch.exp(a)))


def causal_effects(factual: torch.Tensor, no_subject: torch.Tensor,
                   no_context_no_subject: torch.Tensor) -> dict[str, torch.Tensor]:
    """TE, NDE and TIE from ``phi(c, e)``, ``phi(c, e*)`` and ``phi(c*, e*)`` (one space)."""
    te = factual - no_context_no_subject
    nde = no_subject - no_context_no_subject
    return {"te": te, "nde": nde, "tie": te - nde}


def factual_scores(outputs: torch.Tensor | Mapping[str, torch.Tensor],
                   key: str | None = None) -> torch.Tensor:
    """The class logits of a model's output (a tensor, or the first of ``OUTPUT_KEYS``)."""
    if isinstance(outputs, torch.Tensor):
        return outputs
    if key is not None:
        if key not in outputs:
            raise UserError(f"clef: the factual model has no output '{key}'; it gives "
                            f"{', '.join(outputs)}")
        return outputs[key]
    for name in OUTPUT_KEYS:
        if name in outputs:
            return outputs[name]
    raise UserError(f"clef: the factual model gives {', '.join(outputs)}; expected one of "
                    f"{', '.join(OUTPUT_KEYS)}")


class ContextBranch(nn.Module):
    """A backbone on the subject-masked scene and a linear head: the context-only logits."""

    def __init__(self, backbone: str, num_classes: int, pretrained: PretrainedMode = "none",
                 image_size: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.backbone = build_backbone(backbone, pretrained=pretrained)
        self.head = nn.Sequential(nn.Dropout(dropout),
                                  nn.Linear(feature_width(self.backbone), num_classes))
        self.preprocessing = backbone_preprocessing(self.backbone, image_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))


@MODELS.register("clef")
class CounterfactualModel(nn.Module):
    """CLEF around a factual context-aware model.

    factual: ``{"architecture": MODELS name, "kwargs": {...}}`` (or a built module, then
        ``factual_config`` must describe it for a model card). context_backbone: any timm or
        BACKBONES name for the context branch. context_key: the batch entry holding the
        subject-masked scene. kind: ``single_label`` (softmax) or ``multi_label`` (sigmoid).
        space: where effects are differences (default: ``log`` single-label, ``prob``
        multi-label). clamp: soft bound on every logit before fusion (0: none).
        output: name under which TIE is returned (default: the factual model's own key), so
        evaluators of the factual model score the debiased prediction unchanged.

    ``forward(batch)`` returns ``factual`` (Y_e logits), ``context`` (Y_c logits),
    ``fused_log_prob`` (log phi(Y_c, Y_e)), ``te``, ``nde``, ``tie``, ``<output>`` (= TIE) and
    the factual model's other outputs (e.g. ``vad``) unchanged.
    """

    def __init__(self, factual: Mapping[str, Any] | nn.Module, num_classes: int,
                 context_backbone: str = "resnet18", context_key: str = "context_masked",
                 context_image_size: int | None = None, kind: Kind = "single_label",
                 fusion: str = "sum", space: str | None = None, clamp: float = 12.0,
                 output: str | None = None, factual_output: str | None = None,
                 pretrained: PretrainedMode = "none",
                 factual_config: Mapping[str, Any] | None = None):
        super().__init__()
        if kind not in ("single_label", "multi_label"):
            raise UserError(f"clef: kind '{kind}'; known: single_label, multi_label")
        if fusion not in FUSION_CHOICES:
            raise UserError(f"unknown counterfactual fusion '{fusion}'; known: "
                            f"{', '.join(FUSION_CHOICES)}")
        space = space or ("prob" if kind == "multi_label" else "log")
        if space not in SPACE_CHOICES:
            raise UserError(f"clef: space '{space}'; known: {', '.join(SPACE_CHOICES)}")
        self.factual, spec = _factual_model(factual, factual_config, pretrained)
        self.context_branch = ContextBranch(context_backbone, num_classes, pretrained,
                                            context_image_size)
        self.no_subject = nn.Parameter(torch.zeros(num_classes))  # Y_e*, uniform at start
        self.register_buffer("no_context", torch.zeros(num_classes))  # Y_c*
        self.kind, self.fusion, self.space, self.clamp = kind, fusion, space, float(clamp)
        self.context_key, self.factual_output = context_key, factual_output
        self.output = output
        self.num_classes = num_classes
        self.config: dict[str, Any] = {
            "factual": spec, "num_classes": num_classes, "context_backbone": context_backbone,
            "context_key": context_key, "context_image_size": context_image_size, "kind": kind,
            "fusion": fusion, "space": space, "clamp": clamp, "output": output,
            "factual_output": factual_output,
        }

    @property
    def preprocessing(self):
        """The context branch's preprocessing (the factual model keeps its own)."""
        return self.context_branch.preprocessing

    def phi(self, context_logits: torch.Tensor, subject_logits: torch.Tensor) -> torch.Tensor:
        """The fused prediction in the effect space (log-probabilities or probabilities)."""
        log_p = fused_log_prob(context_logits, subject_logits, self.fusion, self.kind)
        return log_p if self.space == "log" else log_p.exp()

    def effects(self, context_logits: torch.Tensor,
                subject_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """TE, NDE, TIE (N, C) of (already clamped) branch logits."""
        n = context_logits.shape[0]
        no_subject = soft_clamp(self.no_subject, self.clamp).expand(n, -1)
        no_context = self.no_context.expand(n, -1)
        return causal_effects(self.phi(context_logits, subject_logits),
                              self.phi(context_logits, no_subject),
                              self.phi(no_context, no_subject))

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.context_key not in batch:
            raise UserError(f"clef: batch has no '{self.context_key}' (the subject-masked "
                            f"scene); it has {', '.join(batch)}")
        raw = self.factual(batch)
        subject = soft_clamp(factual_scores(raw, self.factual_output), self.clamp)
        context = soft_clamp(self.context_branch(batch[self.context_key]), self.clamp)
        out = {k: v for k, v in raw.items()} if isinstance(raw, Mapping) else {}
        key = self.output or _output_key(raw, self.factual_output)
        effects = self.effects(context, subject)
        out.update(factual=subject, context=context,
                   fused_log_prob=fused_log_prob(context, subject, self.fusion, self.kind),
                   **effects)
        out[key] = effects["tie"]
        return out


def _output_key(raw: Any, factual_output: str | None) -> str:
    if factual_output:
        return factual_output
    if isinstance(raw, Mapping):
        return next((k for k in OUTPUT_KEYS if k in raw), "logits")
    return "logits"


def _factual_model(factual: Mapping[str, Any] | nn.Module, spec: Mapping[str, Any] | None,
                   pretrained: PretrainedMode) -> tuple[nn.Module, dict[str, Any]]:
    """The factual model and the ``{"architecture", "kwargs"}`` that rebuilds it."""
    if isinstance(factual, nn.Module):
        spec = dict(spec or {})
        if not spec:
            config = getattr(factual, "config", None)
            name = getattr(factual, "registry_name", None)
            if config is None or name is None:
                raise UserError("clef: a built factual model needs factual_config "
                                "({'architecture': ..., 'kwargs': ...}) for its model card")
            spec = {"architecture": name, "kwargs": dict(config)}
        return factual, spec
    if "architecture" not in factual:
        raise UserError("clef: factual needs an 'architecture' (a MODELS name, e.g. caernet_s)")
    name = str(factual["architecture"])
    if name == "clef":
        raise UserError("clef: the factual model cannot itself be a clef model")
    kwargs = dict(factual.get("kwargs") or {})
    model = MODELS.build(name, pretrained=pretrained, **kwargs)
    return model, {"architecture": name, "kwargs": kwargs}
