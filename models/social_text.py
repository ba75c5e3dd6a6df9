"""Spark NLP pipelines for posts, one per language, built and trained here.

Every pipeline reads a column ``text`` and starts the same way: Japanese characters
are spaced apart (Japanese has no spaces between words; a character with its
neighbours as bigrams is the usual stand-in for a word segmenter, which would need a
downloaded dictionary), then Spark NLP's document assembler, tokeniser, normaliser
(lower case, letters, digits and apostrophes), the language's stop words (Spark ML's
lists, with the negations kept: "not bad" is not "bad") and n-grams. The sentiment
pipeline adds TF-IDF and a Spark ML classifier; the topic pipeline counts terms for LDA.
Nothing is downloaded: the pipelines are saved, logged to MLflow and reloaded whole.
"""

from __future__ import annotations

from dataclasses import dataclass

SENTIMENTS = ("negative", "neutral", "positive")
# Spark ML's stop word lists by ISO 639-1 code; Japanese has none there.
SPARK_STOP_WORDS = {
    "en": "english",
    "de": "german",
    "it": "italian",
    "es": "spanish",
    "pt": "portuguese",
}
# Particles and copulas: too common to say anything on their own.
JAPANESE_STOP_WORDS = ("の", "に", "は", "を", "が", "で", "と", "も", "へ", "や", "か", "ね", "よ")
# Words that flip what follows: kept although the stop word lists drop them.
NEGATIONS = {
    "en": ("not", "no", "nor", "never", "don't", "can't", "isn't", "wasn't", "won't", "didn't"),
    "de": ("nicht", "kein", "keine", "keinen", "keinem", "keiner", "nie"),
    "it": ("non", "mai", "né"),
    "es": ("no", "nunca", "ni"),
    "pt": ("não", "nunca", "nem"),
    "ja": (),
}
# Han, hiragana, katakana and the long-vowel mark.
CJK = r"[\\p{IsHan}\\p{IsHiragana}\\p{IsKatakana}ー]"
SEGMENT = f"SELECT *, regexp_replace(text, '({CJK})', ' $1 ') AS _text FROM __THIS__"
TERMS = "_terms"


def stop_words(language: str) -> list[str]:
    """The language's stop words without its negations (needs a running SparkContext)."""
    from pyspark.ml.feature import StopWordsRemover

    if language == "ja":
        words = list(JAPANESE_STOP_WORDS)
    else:
        words = StopWordsRemover.loadDefaultStopWords(SPARK_STOP_WORDS[language])
    keep = set(NEGATIONS.get(language, ()))
    return [w for w in words if w not in keep]


def text_stages(language: str, ngrams: int, cumulative: bool = True) -> list:
    """``text`` to ``_terms``: normalised tokens without stop words and their n-grams up
    to ``ngrams`` (Japanese: at least character bigrams); not ``cumulative``: the
    ``ngrams``-grams only."""
    from pyspark.ml.feature import SQLTransformer
    from sparknlp.annotator import NGramGenerator, Normalizer, StopWordsCleaner, Tokenizer
    from sparknlp.base import DocumentAssembler, Finisher

    if language == "ja":
        ngrams = max(ngrams, 2)
    stages = [
        SQLTransformer(statement=SEGMENT),
        DocumentAssembler().setInputCol("_text").setOutputCol("_document"),
        Tokenizer().setInputCols(["_document"]).setOutputCol("_token"),
        Normalizer()
        .setInputCols(["_token"])
        .setOutputCol("_normal")
        .setLowercase(True)
        .setCleanupPatterns(["[^\\p{L}\\p{N}']"]),
        StopWordsCleaner()
        .setInputCols(["_normal"])
        .setOutputCol("_clean")
        .setStopWords(stop_words(language))
        .setCaseSensitive(False),
    ]
    last = "_clean"
    if ngrams > 1:
        stages.append(
            NGramGenerator()
            .setInputCols(["_clean"])
            .setOutputCol("_ngrams")
            .setN(ngrams)
            .setEnableCumulative(cumulative)
        )
        last = "_ngrams"
    stages.append(Finisher().setInputCols([last]).setOutputCols([TERMS]).setCleanAnnotations(True))
    return stages


@dataclass
class Fitted:
    """A trained language pipeline and what it was measured at."""

    language: str
    model: object  # pyspark PipelineModel
    metrics: dict[str, float]
    params: dict
    extra: dict  # JSON artifacts: confusion matrix, topic terms


def classifier(algorithm: str):
    from pyspark.ml.classification import LogisticRegression, NaiveBayes

    common = dict(featuresCol="_features", labelCol="_label", predictionCol="_prediction")
    if algorithm == "naive_bayes":
        return NaiveBayes(modelType="multinomial", probabilityCol="_probability", **common)
    return LogisticRegression(
        family="multinomial", probabilityCol="_probability", maxIter=100, regParam=0.01, **common
    )


def fit_sentiment(train, test, language: str, algorithm: str, grid: dict, opts, seed: int):
    """A sentiment pipeline fitted on ``train`` (columns text, label), the grid searched
    on a validation split of it, measured on ``test``. Labels are any strings."""
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import IDF, CountVectorizer, IndexToString, StringIndexer
    from pyspark.ml.tuning import ParamGridBuilder, TrainValidationSplit

    model = classifier(algorithm)
    # The text stages learn nothing from the data: they run once, and the grid search
    # copies only the Spark ML stages (Spark NLP models lose their rules when copied).
    text_model = Pipeline(stages=text_stages(language, opts.ngrams)).fit(train)
    terms = text_model.transform(train).persist()
    pipeline = Pipeline(
        stages=[
            StringIndexer(
                inputCol="label",
                outputCol="_label",
                stringOrderType="alphabetAsc",
                handleInvalid="keep",
            ),
            CountVectorizer(inputCol=TERMS, outputCol="_tf", minDF=opts.min_df),
            IDF(inputCol="_tf", outputCol="_features"),
            model,
        ]
    )
    chosen = {}
    if grid:
        builder = ParamGridBuilder()
        for name, values in grid.items():
            builder.addGrid(model.getParam(name), values)
        search = TrainValidationSplit(
            estimator=pipeline,
            estimatorParamMaps=builder.build(),
            evaluator=_evaluator("f1"),
            trainRatio=0.8,
            seed=seed,
        ).fit(terms)
        best = max(range(len(search.validationMetrics)), key=search.validationMetrics.__getitem__)
        chosen = {p.name: v for p, v in search.getEstimatorParamMaps()[best].items()}
        fitted = search.bestModel
    else:
        fitted = pipeline.fit(terms)
    terms.unpersist()
    labels = list(fitted.stages[0].labels)
    # Scoring data has no label: the indexer skips a missing column, and the predicted
    # index is turned back into the label.
    full = PipelineModel(
        stages=[
            *text_model.stages,
            *fitted.stages,
            IndexToString(inputCol="_prediction", outputCol="predicted", labels=labels),
        ]
    )
    scored = full.transform(test).select("label", "predicted").persist()
    confusion = confusion_matrix(scored, labels)
    metrics = {
        "accuracy": confusion["accuracy"],
        "macro_f1": confusion["macro_f1"],
        "rows_train": float(train.count()),
        "rows_test": float(confusion["rows"]),
    }
    scored.unpersist()
    for label, f1 in confusion["f1"].items():
        if f1 is not None:
            metrics[f"f1_{label}"] = f1
    params = {"algorithm": algorithm, "labels": labels, "vocabulary": _vocabulary(full), **chosen}
    return Fitted(language, full, metrics, params, {"confusion": confusion})


def _evaluator(metric: str):
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator

    return MulticlassClassificationEvaluator(
        labelCol="_label", predictionCol="_prediction", metricName=metric
    )


def confusion_matrix(scored, labels: list[str]) -> dict:
    """Counts by (true, predicted) label of the held-out rows, accuracy, each label's F1
    and their plain mean, the macro F1 (Spark's ``f1`` weights labels by size)."""
    pairs = scored.groupBy("label", "predicted").count().collect()
    return confusion_from_counts({(r.label, r.predicted): r["count"] for r in pairs}, labels)


def confusion_from_counts(counts: dict[tuple[str, str], int], labels: list[str]) -> dict:
    matrix = {t: {p: counts.get((t, p), 0) for p in labels} for t in labels}
    rows = sum(counts.values())
    f1 = {}
    for label in labels:
        tp = matrix[label][label]
        predicted = sum(matrix[t][label] for t in labels)
        actual = sum(matrix[label].values())
        # A label neither in the held-out rows nor predicted has no F1 (not 0).
        f1[label] = 2 * tp / (predicted + actual) if predicted + actual else None
    correct = sum(matrix[label][label] for label in labels)
    measured = [v for v in f1.values() if v is not None]
    return {
        "labels": labels,
        "matrix": matrix,
        "f1": f1,
        "macro_f1": sum(measured) / len(measured) if measured else 0.0,
        "accuracy": correct / rows if rows else 0.0,
        "rows": rows,
    }


def _vocabulary(model) -> int:
    from pyspark.ml.feature import CountVectorizerModel

    sizes = [len(s.vocabulary) for s in model.stages if isinstance(s, CountVectorizerModel)]
    return sizes[0] if sizes else 0


def fit_topics(train, test, language: str, opts, seed: int) -> Fitted:
    """LDA over each post's terms (words; Japanese: character bigrams, as single
    characters say little), with the top terms of every topic and the held-out log
    perplexity."""
    from pyspark.ml import Pipeline
    from pyspark.ml.clustering import LDA
    from pyspark.ml.feature import CountVectorizer

    lda = LDA(
        k=opts.topics,
        maxIter=opts.max_iter,
        seed=seed,
        optimizer="online",
        featuresCol="_tf",
        topicDistributionCol="_topics",
    )
    stages = [
        *text_stages(language, 2 if language == "ja" else 1, cumulative=False),
        CountVectorizer(inputCol=TERMS, outputCol="_tf", minDF=opts.min_df, maxDF=0.5),
        lda,
    ]
    fitted = Pipeline(stages=stages).fit(train)
    vocabulary = fitted.stages[-2].vocabulary
    lda_model = fitted.stages[-1]
    held_out = fitted.transform(test)
    terms = [
        {
            "topic": r.topic,
            "terms": [vocabulary[i] for i in r.termIndices],
            "weights": [float(w) for w in r.termWeights],
        }
        for r in lda_model.describeTopics(opts.top_terms).orderBy("topic").collect()
    ]
    metrics = {
        "log_perplexity": lda_model.logPerplexity(held_out),
        "rows_train": float(train.count()),
        "rows_test": float(test.count()),
    }
    params = {"algorithm": "lda", "k": opts.topics, "vocabulary": len(vocabulary)}
    return Fitted(language, fitted, metrics, params, {"topic_terms": terms})


def held_out_split(df, key: str, fraction: float, seed: int):
    """(train, test) by a hash of ``key``: the same row lands on the same side in every
    run, whatever else the table holds."""
    from pyspark.sql import functions as F

    bucket = F.abs(F.xxhash64(F.col(key), F.lit(seed))) % 10_000
    test = bucket < int(fraction * 10_000)
    return df.where(~test), df.where(test)
