#!/usr/bin/env python3
"""The PyTorch peer of `just bench encoder`: fine-tunes the same BERT checkpoint with the
same four heads, batch size, sequence length and loss weights as cairn's `bert`
architecture (encoder dropout off, as in cairn; dropout 0.1 on the pooled vector), on the
same JSONL rows, one epoch, and prints training examples per second (the training loop
only, tokenization and model loading excluded).

    bench_torch_bert.py --encoder DIR --data rows.jsonl --max-length 64 --batch 16 --threads 2

Needs torch and transformers (the bench installs them in its own venv; the tests never do).
"""
import argparse
import json
import time

import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--encoder", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lr", type=float, default=2e-5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    rows = [json.loads(line) for line in open(a.data, encoding="utf-8") if line.strip()]
    tok = Tokenizer.from_file(f"{a.encoder}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(max_length=a.max_length)
    ids = [e.ids for e in tok.encode_batch([r["text"] for r in rows])]

    config = BertConfig.from_pretrained(a.encoder)
    config.hidden_dropout_prob = 0.0
    config.attention_probs_dropout_prob = 0.0
    encoder = BertModel.from_pretrained(a.encoder, config=config, add_pooling_layer=False)
    h = config.hidden_size
    heads = torch.nn.ModuleDict(
        {
            "binary": torch.nn.Linear(h, 2),
            "family": torch.nn.Linear(h, 8),
            "severity": torch.nn.Linear(h, 1),
            "context": torch.nn.Linear(h, 6),
        }
    )
    params = list(encoder.parameters()) + list(heads.parameters())
    optim = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.01)
    drop = torch.nn.Dropout(0.1)
    encoder.train()
    ce = torch.nn.functional.cross_entropy

    start = time.perf_counter()
    for s in range(0, len(rows), a.batch):
        chunk = range(s, min(s + a.batch, len(rows)))
        width = max(len(ids[i]) for i in chunk)
        x = torch.zeros((len(chunk), width), dtype=torch.long)
        m = torch.zeros((len(chunk), width), dtype=torch.long)
        for j, i in enumerate(chunk):
            x[j, : len(ids[i])] = torch.tensor(ids[i])
            m[j, : len(ids[i])] = 1
        hidden = encoder(input_ids=x, attention_mask=m).last_hidden_state
        w = m.unsqueeze(-1).float()
        pooled = drop((hidden * w).sum(1) / w.sum(1))
        label = torch.tensor([rows[i]["label"] for i in chunk])
        family = torch.tensor([rows[i]["family_idx"] for i in chunk])
        context = torch.tensor([rows[i]["context_idx"] for i in chunk])
        severity = torch.tensor([float(rows[i]["severity_score"]) for i in chunk])
        loss = (
            ce(heads["binary"](pooled), label)
            + 0.5 * ce(heads["family"](pooled), family)
            + 0.25 * ((torch.sigmoid(heads["severity"](pooled)).squeeze(-1) - severity) ** 2).mean()
            + 0.25 * ce(heads["context"](pooled), context)
        )
        optim.zero_grad()
        loss.backward()
        optim.step()
    seconds = time.perf_counter() - start
    print(f"{len(rows) / seconds:.2f}")


if __name__ == "__main__":
    main()
