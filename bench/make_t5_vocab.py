import json, sys
from pathlib import Path
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
root = Path("assets")
lines = []
for f in sorted((root / "concepts").glob("*.txt")):
    lines += [l.strip() for l in f.read_text().splitlines() if l.strip() and not l.startswith("#")]
for f in ("en.json",):
    def walk(x):
        if isinstance(x, str): lines.append(x)
        elif isinstance(x, dict): [walk(v) for v in x.values()]
        elif isinstance(x, list): [walk(v) for v in x]
    walk(json.loads((root / "lessons" / f).read_text()))
print(len(lines), sum(map(len, lines)))
tok = Tokenizer(models.Unigram())
tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
    pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)])
trainer = trainers.UnigramTrainer(vocab_size=1000, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>",
                                  shrinking_factor=0.75, max_piece_length=12, n_sub_iterations=2, show_progress=False)
tok.train_from_iterator(lines, trainer=trainer)
vocab = json.loads(tok.to_str())["model"]["vocab"]
print(len(vocab), vocab[:6])
out = Path(sys.argv[1]); out.write_text(json.dumps([[p, round(s, 4)] for p, s in vocab], ensure_ascii=False) + "\n")
