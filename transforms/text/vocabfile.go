package text

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/pretext-dev/pretext/transforms"
)

// MaxVocabBytes bounds a vocab file (bert-base's is 231 KB).
const MaxVocabBytes = 64 << 20

// LoadVocab is pretext's one vocab loader, used by the pipeline (plan check
// and every worker), the inspector and the trainer: it reads the vocab.txt at
// path from any filesystem the inputs can come from, parses it, checks that
// it can make BERT instances (CheckVocab) and returns it with the sha256 of
// its bytes, which a text dataset's manifest records as vocab_sha256.
//
// A runner makes a DoFn instance per concurrent bundle, each loading the
// vocab: they share one Vocab per content (a Vocab is read-only), which saves
// several copies of its maps per worker. Errors name the path.
func LoadVocab(ctx context.Context, path string) (v *Vocab, sha string, err error) {
	var buf bytes.Buffer
	_, reason, detail, err := transforms.CopyInput(ctx, path, MaxVocabBytes, &buf)
	if err != nil {
		return nil, "", fmt.Errorf("vocab %s: %w", path, err)
	}
	if reason != "" {
		return nil, "", fmt.Errorf("vocab %s: %s (%s)", path, reason, detail)
	}
	sum := sha256.Sum256(buf.Bytes())
	sha = hex.EncodeToString(sum[:])
	vocabsMu.Lock()
	defer vocabsMu.Unlock()
	if v, ok := vocabs[sum]; ok {
		return v, sha, nil
	}
	if v, err = ReadVocab(bytes.NewReader(buf.Bytes())); err == nil {
		err = CheckVocab(v)
	}
	if err != nil {
		return nil, "", fmt.Errorf("vocab %s: %w", path, err)
	}
	vocabs[sum] = v
	return v, sha, nil
}

// CheckVocabSHA says whether the vocab at path, of sha256 sha, is the one a
// dataset was made with (want, the manifest's vocab_sha256; "" when the
// manifest records none, which passes).
func CheckVocabSHA(path, sha, want string) error {
	if want != "" && sha != want {
		return fmt.Errorf("vocab %s has sha256 %.12s…, the dataset was made with %.12s…", path, sha, want)
	}
	return nil
}

var (
	vocabsMu sync.Mutex
	vocabs   = map[[sha256.Size]byte]*Vocab{}
)
