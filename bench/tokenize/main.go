// Command tokenize is the ceiling the text pipeline is measured against:
// pretext's WordPiece tokenizer alone (transforms/text), over every line of
// the given files, with nothing else — no sentence splitting, no instances,
// no Beam, no Parquet.
//
//	go run ./bench/tokenize --vocab testdata/wordpiece/vocab-bert-base-uncased.txt corpus/*.txt
//
// It prints one JSON object: bytes and tokens read, seconds, CPU seconds
// (user + system) and the rates per CPU second.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/pretext-dev/pretext/transforms/text"
)

type result struct {
	Bytes        int64   `json:"bytes"`
	Tokens       int64   `json:"tokens"`
	Seconds      float64 `json:"seconds"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	BytesPerCPUS float64 `json:"bytes_per_cpu_s"`
	TokensPerCPU float64 `json:"tokens_per_cpu_s"`
}

func main() {
	vocabPath := flag.String("vocab", "testdata/wordpiece/vocab-bert-base-uncased.txt", "WordPiece vocab.txt")
	cased := flag.Bool("cased", false, "keep case and accents")
	flag.Parse()
	if err := run(*vocabPath, !*cased, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "tokenize:", err)
		os.Exit(1)
	}
}

func run(vocabPath string, lower bool, files []string) error {
	f, err := os.Open(vocabPath)
	if err != nil {
		return err
	}
	v, err := text.ReadVocab(f)
	f.Close()
	if err != nil {
		return err
	}
	tok := text.NewTokenizer(v, lower)
	var res result
	start, cpu0 := time.Now(), cpuSeconds()
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			res.Bytes += int64(len(sc.Bytes())) + 1
			_, ids := tok.TokenizeIDs(sc.Text())
			res.Tokens += int64(len(ids))
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.CPUSeconds = cpuSeconds() - cpu0
	res.BytesPerCPUS = float64(res.Bytes) / res.CPUSeconds
	res.TokensPerCPU = float64(res.Tokens) / res.CPUSeconds
	return json.NewEncoder(os.Stdout).Encode(res)
}

// cpuSeconds is the user and system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
