"""A survival model as an MLflow pyfunc: loads the model card (coefficients and
daily baseline survival per stratum) and scores rows without Spark or lifelines.

Input: the covariates, the strata columns and ``tenure_days``. Output per row: the
probability of lasting another 30 days and the expected remaining days within 365,
both given survival to the current tenure.
"""

from __future__ import annotations

import json

import mlflow.pyfunc
import numpy as np
import pandas as pd

from fanbase.models import survival

CARD = "model_card"


class SurvivalModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        with open(context.artifacts[CARD]) as f:
            self.card = json.load(f)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return score(self.card, model_input)


def score(card: dict, rows: pd.DataFrame) -> pd.DataFrame:
    baselines = {s["stratum"]: np.asarray(s["baseline_survival"]) for s in card["strata"]}
    out = []
    for row in rows.to_dict("records"):
        values = [row.get(c) for c in card["strata_columns"]]
        stratum = survival.stratum_label(card["strata_columns"], values)
        base = baselines.get(stratum)
        if base is None:
            out.append((np.nan, np.nan))
            continue
        lp = survival.linear_predictor(card["coefficients"], row)
        now = int(np.floor(row["tenure_days"]))
        s = survival.survival_at(base, np.arange(now, now + 366), lp)
        out.append((s[30] / s[0], float(s[1:].sum() / s[0])))
    return pd.DataFrame(out, columns=["survival_30d", "expected_remaining_days_365"])
