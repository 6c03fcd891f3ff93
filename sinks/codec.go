package sinks

import (
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
type shardCodec struct{}

var (
	shardEncoderOnce sync.Once
	shardEncoder     *zstd.Encoder
	shardDecoder     *zstd.Decoder
)

func shardCoders() (*zstd.Encoder, *zstd.Decoder) {
	shardEncoderOnce.Do(func() {
		var err error
		shardEncoder, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(2),
			zstd.WithWindowSize(1<<20),
			zstd.WithLowerEncoderMem(true),
			zstd.WithZeroFrames(true),
			zstd.WithEncoderCRC(false),
		)
		if err != nil {
			panic(err) // only for invalid options, which are constant here
		}
		shardDecoder, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true))
		if err != nil {
			panic(err)
		}
	})
	return shardEncoder, shardDecoder
}

func (shardCodec) String() string                             { return "ZSTD" }
func (shardCodec) CompressionCodec() pformat.CompressionCodec { return pformat.Zstd }

func (shardCodec) Encode(dst, src []byte) ([]byte, error) {
	enc, _ := shardCoders()
	return enc.EncodeAll(src, dst[:0]), nil
}

func (shardCodec) Decode(dst, src []byte) ([]byte, error) {
	_, dec := shardCoders()
	return dec.DecodeAll(src, dst[:0])
}
