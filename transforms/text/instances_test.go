package text

import (
	"bufio"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/pretext-dev/pretext/transforms/seeding"
)

// corpus reads the committed BERT-format fixture as documents.
func corpus(t testing.TB, v *Vocab) []Document {
	t.Helper()
	f, err := os.Open(bertCorpus)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok := NewTokenizer(v, true)
	var docs []Document
	cur := Document{ID: "doc0"}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			if len(cur.Sentences) > 0 {
				docs = append(docs, cur)
			}
			cur = Document{ID: "doc" + string(rune('A'+len(docs)))}
			continue
		}
		if _, ids := tok.TokenizeIDs(line); len(ids) > 0 {
			cur.Sentences = append(cur.Sentences, ids)
		}
	}
	if len(cur.Sentences) > 0 {
		docs = append(docs, cur)
	}
	return docs
}

func others(docs []Document, i int) []Document {
	out := append([]Document(nil), docs[:i]...)
	return append(out, docs[i+1:]...)
}

// The instances obey BERT's layout, and the label shares are BERT's.
func TestInstances(t *testing.T) {
	v := loadVocab(t)
	docs := corpus(t, v)
	if len(docs) < 10 {
		t.Fatalf("%d documents", len(docs))
	}
	cfg := DefaultInstanceConfig()
	cls, _ := v.ID(CLS)
	sep, _ := v.ID(SEP)
	var tokens, masked, instances, random int
	var repl [3]int
	for d := 0; d < cfg.DupeFactor; d++ {
		for i, doc := range docs {
			for _, in := range CreateInstances(doc, others(docs, i), cfg, v, seeding.New(12345, "mlm_nsp", doc.ID, d)) {
				instances++
				tokens += len(in.InputIDs)
				masked += len(in.MaskedPositions)
				for k := range repl {
					repl[k] += in.Replacements[k]
				}
				if len(in.InputIDs) > cfg.MaxSeqLength || in.InputIDs[0] != cls {
					t.Fatalf("bad instance: %d tokens, first %d", len(in.InputIDs), in.InputIDs[0])
				}
				var seps []int
				for p, id := range in.InputIDs {
					if id == sep {
						seps = append(seps, p)
					}
				}
				if len(seps) != 2 || seps[1] != len(in.InputIDs)-1 {
					t.Fatalf("[SEP] at %v of %d", seps, len(in.InputIDs))
				}
				for p, s := range in.SegmentIDs {
					if want := int32(0); p > seps[0] {
						want = 1
						if s != want {
							t.Fatalf("segment id %d at %d (first [SEP] at %d)", s, p, seps[0])
						}
					} else if s != want {
						t.Fatalf("segment id %d at %d (first [SEP] at %d)", s, p, seps[0])
					}
				}
				want := min(cfg.MaxPredictionsPerSeq, max(1, int(math.RoundToEven(float64(len(in.InputIDs))*cfg.MaskedLMProb))))
				if len(in.MaskedPositions) != want {
					t.Fatalf("%d masked positions, want %d", len(in.MaskedPositions), want)
				}
				for k, p := range in.MaskedPositions {
					if k > 0 && p <= in.MaskedPositions[k-1] {
						t.Fatal("masked positions not ascending")
					}
					if in.MaskedIDs[k] == cls || in.MaskedIDs[k] == sep {
						t.Fatal("a special token was masked")
					}
				}
				if in.IsRandomNext {
					random++
					if in.DocB == in.DocA {
						t.Fatal("random next from the same document")
					}
				} else if in.DocB != in.DocA {
					t.Fatal("actual next from another document")
				}
			}
		}
	}
	rate := float64(masked) / float64(tokens)
	share := func(k int) float64 { return float64(repl[k]) / float64(masked) }
	t.Logf("%d instances, %d tokens: mask rate %.4f, [MASK] %.4f random %.4f kept %.4f, random next %.4f",
		instances, tokens, rate, share(0), share(1), share(2), float64(random)/float64(instances))
	if math.Abs(rate-0.15) > 0.01 {
		t.Errorf("mask rate %.4f", rate)
	}
	for k, want := range []float64{0.8, 0.1, 0.1} {
		if math.Abs(share(k)-want) > 0.01 {
			t.Errorf("replacement %d share %.4f, want %.2f", k, share(k), want)
		}
	}
	if r := float64(random) / float64(instances); r < 0.5 || r > 0.56 {
		t.Errorf("random-next share %.4f", r)
	}
}

func TestInstancesDeterministic(t *testing.T) {
	v := loadVocab(t)
	docs := corpus(t, v)
	a := CreateInstances(docs[3], others(docs, 3), DefaultInstanceConfig(), v, seeding.New(1, "mlm_nsp", "x", 2))
	b := CreateInstances(docs[3], others(docs, 3), DefaultInstanceConfig(), v, seeding.New(1, "mlm_nsp", "x", 2))
	c := CreateInstances(docs[3], others(docs, 3), DefaultInstanceConfig(), v, seeding.New(2, "mlm_nsp", "x", 2))
	if !reflect.DeepEqual(a, b) || len(a) == 0 {
		t.Fatal("same seed, different instances")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("another seed, same instances")
	}
}

func TestMaskingNone(t *testing.T) {
	v := loadVocab(t)
	docs := corpus(t, v)
	cfg := DefaultInstanceConfig()
	cfg.Masking = "none"
	mask, _ := v.ID(MASK)
	for _, in := range CreateInstances(docs[0], others(docs, 0), cfg, v, seeding.New(1, "mlm_nsp", "x", 0)) {
		if len(in.MaskedPositions) != 0 {
			t.Fatal("masking none masked")
		}
		for _, id := range in.InputIDs {
			if id == mask {
				t.Fatal("[MASK] in an unmasked instance")
			}
		}
	}
}

func TestInstanceConfigValidate(t *testing.T) {
	c := DefaultInstanceConfig()
	c.MaskedLMProb, c.DupeFactor, c.Masking = 1.5, 0, "dynamic"
	err := c.Validate("tasks.mlm_nsp")
	for _, want := range []string{"tasks.mlm_nsp.masked_lm_prob", "tasks.mlm_nsp.dupe_factor", "tasks.mlm_nsp.masking"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not name %s", err, want)
		}
	}
}

func BenchmarkCreateInstances(b *testing.B) {
	v := loadVocab(b)
	docs := corpus(b, v)
	cfg := DefaultInstanceConfig()
	b.ReportAllocs()
	b.ResetTimer()
	var inst, toks int
	for i := 0; i < b.N; i++ {
		d := i % len(docs)
		for _, in := range CreateInstances(docs[d], others(docs, d), cfg, v, seeding.New(1, "mlm_nsp", docs[d].ID, i)) {
			inst++
			toks += len(in.InputIDs)
		}
	}
	b.ReportMetric(float64(inst)/b.Elapsed().Seconds(), "instances/s")
	b.ReportMetric(float64(toks)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkTokenize(b *testing.B) {
	tok := NewTokenizer(loadVocab(b), true)
	data, err := os.ReadFile(bertCorpus)
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, l := range lines {
			tok.TokenizeIDs(l)
		}
	}
}
