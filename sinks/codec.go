package sinks

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
	pformat "github.com/parquet-go/parquet-go/format"
)

// shardCodec is zstd for Parquet pages with a 1 MB window. parquet-go's own
// zstd codec keeps a pool of encoders with the default 8 MB window, each
// holding a 16 MB history, and the pool grows with the pages compressed at
// once: it was most of a run's peak heap. One shared encoder (EncodeAll is
// safe for concurrent use, with at most two block encoders) bounds that.
// Pages are small, so the window costs little compression; the frames are
// standard zstd that any reader decodes.
//
// Level is sink.compression_level ("" is default): one shared encoder per
// level.
type shardCodec struct{ Level string }

var (
	shardDecoderOnce sync.Once
	shardDecoder     *zstd.Decoder
	shardEncodersMu  sync.Mutex
	shardEncoders    = map[zstd.EncoderLevel]*zstd.Encoder{}
)

// zstdLevel maps sink.compression_level to klauspost/compress's levels
// (about zstd's 1, 3, 7 and 11).
func zstdLevel(name string) (zstd.EncoderLevel, error) {
	switch name {
	case "fastest":
		return zstd.SpeedFastest, nil
	case "", "default":
		return zstd.SpeedDefault, nil
	case "better":
		return zstd.SpeedBetterCompression, nil
	case "best":
		return zstd.SpeedBestCompression, nil
	}
	return 0, fmt.Errorf("sinks: unknown compression level %q", name)
}

func shardEncoder(name string) (*zstd.Encoder, error) {
	level, err := zstdLevel(name)
	if err != nil {
		return nil, err
	}
	shardEncodersMu.Lock()
	defer shardEncodersMu.Unlock()
	if enc, ok := shardEncoders[level]; ok {
		return enc, nil
	}
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(2),
		zstd.WithWindowSize(1<<20),
		zstd.WithLowerEncoderMem(true),
		zstd.WithZeroFrames(true),
		zstd.WithEncoderCRC(false),
	)
	if err != nil {
		return nil, err
	}
	shardEncoders[level] = enc
	return enc, nil
}

func shardDecoderOf() *zstd.Decoder {
	shardDecoderOnce.Do(func() {
		var err error
		shardDecoder, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true))
		if err != nil {
			panic(err) // only for invalid options, which are constant here
		}
	})
	return shardDecoder
}

func (shardCodec) String() string                             { return "ZSTD" }
func (shardCodec) CompressionCodec() pformat.CompressionCodec { return pformat.Zstd }

func (c shardCodec) Encode(dst, src []byte) ([]byte, error) {
	enc, err := shardEncoder(c.Level)
	if err != nil {
		return nil, err
	}
	return enc.EncodeAll(src, dst[:0]), nil
}

func (shardCodec) Decode(dst, src []byte) ([]byte, error) {
	return shardDecoderOf().DecodeAll(src, dst[:0])
}
