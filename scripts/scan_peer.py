#!/usr/bin/env python3
"""The Python peer of `cairn scan`: the same tokenizer.json and model.onnx, run with the
`tokenizers` and `onnxruntime` packages, batched the same way (texts in file order, each
batch padded to its longest sequence). Used by `just bench scan` and the interop test.

    scan_peer.py --model DIR [--file texts.txt | TEXT ...] [--batch 64] [--threads N]
                 [--no-spinning] [--json]

DIR holds model.onnx and tokenizer.json (a `cairn deploy` folder). With --json, one JSON
object per text on stdout; a summary line goes to stderr either way.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def read_texts(path):
    """(line number, text) pairs; blank lines are skipped, as `cairn scan` does."""
    texts = []
    jsonl = path.endswith((".jsonl", ".json", ".ndjson"))
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            texts.append((n, json.loads(line)["text"] if jsonl else line))
    return texts


def main():
    p = argparse.ArgumentParser()
    p.add_argument("texts", nargs="*")
    p.add_argument("--model", required=True)
    p.add_argument("--file")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--no-spinning",
        action="store_true",
        help="idle ONNX Runtime threads sleep instead of spinning (as cairn sets them)",
    )
    a = p.parse_args()

    numbered = read_texts(a.file) if a.file else list(enumerate(a.texts, 1))
    lines = [n for n, _ in numbered]
    texts = [t for _, t in numbered]
    t0 = time.perf_counter()
    tokenizer = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = a.threads
    options.inter_op_num_threads = 1
    if a.no_spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(
        os.path.join(a.model, "model.onnx"), options, providers=["CPUExecutionProvider"]
    )
    meta = session.get_modelmeta().custom_metadata_map
    families = json.loads(meta["cairn.families"])
    contexts = json.loads(meta["cairn.contexts"])
    # The version's operating point, when its run chose one (else P(attack) > 0.5).
    threshold = json.loads(meta["cairn.threshold"]) if "cairn.threshold" in meta else None
    load_ms = (time.perf_counter() - t0) * 1e3

    out = sys.stdout
    latencies = []
    threats = 0
    start = time.perf_counter()
    for s in range(0, len(texts), a.batch):
        t = time.perf_counter()
        chunk = texts[s : s + a.batch]
        if len(chunk) == 1:
            encodings = [tokenizer.encode(chunk[0])]
        else:
            encodings = tokenizer.encode_batch(chunk)
        seqs = [e.ids or [0] for e in encodings]
        width = max(len(x) for x in seqs)
        ids = np.zeros((len(seqs), width), dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=np.int64)
        for i, x in enumerate(seqs):
            ids[i, : len(x)] = x
            mask[i, : len(x)] = 1
        binary, family, severity, context = session.run(
            ["binary_logits", "family_logits", "severity_score", "context_logits"],
            {"input_ids": ids, "attention_mask": mask},
        )
        latencies.extend([(time.perf_counter() - t) * 1e3] * len(chunk))
        d = binary[:, 1] - binary[:, 0]
        probability = 1.0 / (1.0 + np.exp(-d))
        for i, text in enumerate(chunk):
            if threshold is None:
                threat = bool(binary[i, 1] > binary[i, 0])
            else:
                threat = bool(np.float32(probability[i]) >= np.float32(threshold))
            threats += threat
            if a.json:
                out.write(
                    json.dumps(
                        {
                            "line": lines[s + i],
                            "text": text,
                            "threat": threat,
                            "probability": float(probability[i]),
                            "family": families[int(np.argmax(family[i]))],
                            "severity": float(severity[i]),
                            "context": contexts[int(np.argmax(context[i]))],
                        }
                    )
                    + "\n"
                )
    seconds = time.perf_counter() - start
    latencies.sort()

    def q(x):
        if not latencies:
            return 0.0
        rank = min(max(int(-(-x * len(latencies) // 1)), 1), len(latencies))
        return latencies[rank - 1]

    print(
        f"scanned {len(texts)} texts with python in {seconds:.3f} s: "
        f"{len(texts) / max(seconds, 1e-9):.0f} texts/s; latency per text p50 {q(0.5):.3f} ms, "
        f"p95 {q(0.95):.3f} ms, p99 {q(0.99):.3f} ms (batch {a.batch}, {a.threads} thread(s), "
        f"model loaded in {load_ms:.0f} ms); {threats} threat(s)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
