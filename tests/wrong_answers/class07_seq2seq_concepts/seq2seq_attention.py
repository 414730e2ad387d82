"""Typical mistakes in class07_seq2seq_concepts/seq2seq_attention.ipynb and the points each must lose."""

from graders.grading.variants import WrongAnswer

_ATTENTION_HEAD = '''def attention(query, keys, mask):
    scores = torch.einsum("nth,nh->nt", keys, query) / math.sqrt(keys.shape[-1])
'''

_DECODER = '''

class Decoder(nn.Module):
    def __init__(self, vocab_size, emb_dim, hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD)
        self.gru_cell = nn.GRUCell(emb_dim + hidden_size, hidden_size)
        self.out = nn.Linear(2 * hidden_size, vocab_size)

    def forward(self, prev_tokens, hidden, enc_outputs, src_mask):
        context, weights = attention(hidden, enc_outputs, src_mask)
        hidden = self.gru_cell(torch.cat([self.embedding(prev_tokens), context], dim=-1), hidden)
        return self.out(torch.cat([hidden, context], dim=-1)), hidden, weights
'''

_LOSS_HEAD = '''def seq2seq_loss(encoder, decoder, src, tgt, teacher_forcing=True):
    enc_outputs, hidden = encoder(src)
    mask = src != PAD
    prev = torch.full((len(src),), BOS, dtype=torch.long, device=src.device)
    all_logits = []
'''

_GREEDY_HEAD = '''@torch.no_grad()
def greedy_decode(encoder, decoder, src, max_len):
    encoder.eval()
    decoder.eval()
    enc_outputs, hidden = encoder(src)
    mask = src != PAD
    N, T = src.shape
    prev = torch.full((N,), BOS, dtype=torch.long, device=src.device)
    tokens = torch.full((N, max_len), PAD, dtype=torch.long, device=src.device)
    weights = torch.zeros(N, max_len, T, device=src.device)
'''

WRONG_ANSWERS = [
    WrongAnswer(
        name="attention-softmax-over-the-batch",
        cell="attention",
        code=_ATTENTION_HEAD + '''    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=0)
    return torch.einsum("nt,nth->nh", weights, keys), weights
''',
        loses={"test-attention": 3.0, "test-exact-match": 3.0},
        note="softmax over the sequences of the batch instead of the positions of each sequence; "
             "the model trained with it reaches an exact match of about 0.49 only",
    ),
    WrongAnswer(
        name="attention-mask-after-softmax",
        cell="attention",
        code=_ATTENTION_HEAD + '''    weights = torch.softmax(scores, dim=-1) * mask
    return torch.einsum("nt,nth->nh", weights, keys), weights
''',
        loses={"test-attention": 3.0},
        note="padded positions zeroed after the softmax: the weights of a row no longer sum to 1",
    ),
    WrongAnswer(
        name="encoder-hidden-after-the-padding",
        cell="encoder-decoder",
        code='''class Encoder(nn.Module):
    def __init__(self, vocab_size, emb_dim, hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=PAD)
        self.gru = nn.GRU(emb_dim, hidden_size, batch_first=True)

    def forward(self, src):
        outputs, hidden = self.gru(self.embedding(src))
        return outputs, hidden[0]
''' + _DECODER,
        loses={"test-encoder-decoder": 1.5},
        note="the GRU's last state comes after the pads of the shorter sequences",
    ),
    WrongAnswer(
        name="loss-counts-padding",
        cell="seq2seq-loss",
        code=_LOSS_HEAD + '''    for i in range(tgt.shape[1]):
        logits, hidden, _ = decoder(prev, hidden, enc_outputs, mask)
        all_logits.append(logits)
        prev = tgt[:, i] if teacher_forcing else logits.argmax(dim=-1)
    logits = torch.stack(all_logits, dim=1)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
''',
        loses={"test-seq2seq-loss": 3.0},
        note="PAD targets counted in the mean: the model is trained to predict padding",
    ),
    WrongAnswer(
        name="loss-decoder-sees-the-target-it-must-predict",
        cell="seq2seq-loss",
        code=_LOSS_HEAD + '''    for i in range(tgt.shape[1]):
        if teacher_forcing:
            prev = tgt[:, i]                      # off by one: the input is the token to predict
        logits, hidden, _ = decoder(prev, hidden, enc_outputs, mask)
        all_logits.append(logits)
        if not teacher_forcing:
            prev = logits.argmax(dim=-1)
    logits = torch.stack(all_logits, dim=1)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=PAD)
''',
        loses={"test-seq2seq-loss": 2.4, "test-exact-match": 2.25},
        note="decoder input not shifted: it learns to copy its input, and fails when decoding",
    ),
    WrongAnswer(
        name="loss-feeds-own-predictions-despite-teacher-forcing",
        cell="seq2seq-loss",
        code=_LOSS_HEAD + '''    for i in range(tgt.shape[1]):
        logits, hidden, _ = decoder(prev, hidden, enc_outputs, mask)
        all_logits.append(logits)
        prev = logits.argmax(dim=-1)
    logits = torch.stack(all_logits, dim=1)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=PAD)
''',
        loses={"test-seq2seq-loss": 2.4},
        note="teacher_forcing ignored: the decoder always gets its own argmax",
    ),
    WrongAnswer(
        name="train-step-without-zero-grad",
        cell="train-step",
        code='''def train_step(encoder, decoder, optimizer, src, tgt, teacher_forcing=True, clip=1.0):
    loss = seq2seq_loss(encoder, decoder, src, tgt, teacher_forcing)
    loss.backward()
    nn.utils.clip_grad_norm_([*encoder.parameters(), *decoder.parameters()], clip)
    optimizer.step()
    return loss.item()
''',
        # the exact match is measured on held-out sequences drawn with the assignment's derived secret
        loses={"test-train-step": 1.3333, "test-exact-match": 2.2519},
        note="gradients accumulate over the steps: the trained model reaches an exact match of about 0.63",
    ),
    WrongAnswer(
        name="train-step-clips-after-the-step",
        cell="train-step",
        code='''def train_step(encoder, decoder, optimizer, src, tgt, teacher_forcing=True, clip=1.0):
    optimizer.zero_grad()
    loss = seq2seq_loss(encoder, decoder, src, tgt, teacher_forcing)
    loss.backward()
    optimizer.step()
    nn.utils.clip_grad_norm_([*encoder.parameters(), *decoder.parameters()], clip)
    return loss.item()
''',
        loses={"test-train-step": 1.3333},
        note="clipping after optimizer.step() has no effect on the update",
    ),
    WrongAnswer(
        name="greedy-no-padding-after-eos",
        cell="greedy-decode",
        code=_GREEDY_HEAD + '''    for i in range(max_len):
        logits, hidden, step_weights = decoder(prev, hidden, enc_outputs, mask)
        prev = logits.argmax(dim=-1)
        tokens[:, i] = prev
        weights[:, i] = step_weights
    return tokens, weights
''',
        loses={"test-greedy-decode": 3.0},
        note="decoding goes on after <eos>: garbage after the end of the sequence",
    ),
    WrongAnswer(
        name="greedy-stops-the-batch-at-the-first-eos",
        cell="greedy-decode",
        code=_GREEDY_HEAD + '''    for i in range(max_len):
        logits, hidden, step_weights = decoder(prev, hidden, enc_outputs, mask)
        prev = logits.argmax(dim=-1)
        tokens[:, i] = prev
        weights[:, i] = step_weights
        if (prev == EOS).any():
            break
    return tokens, weights
''',
        loses={"test-greedy-decode": 3.0},
        note="the first sequence to finish stops the longer ones",
    ),
]
