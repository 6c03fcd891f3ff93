package av

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pretext-dev/pretext/transforms"
)

// maxRIFFChunks bounds the walk over a WAV's chunks before its data chunk.
const maxRIFFChunks = 64

// checkWAV reports a RIFF/WAVE file whose data chunk declares more bytes
// than the file holds: a recording or upload cut short. ffmpeg decodes such
// a file without an error (it only warns of a corrupt packet) and returns
// the part that is there, so without this check a truncated WAV would pass
// as a shorter clip. Files that are not RIFF/WAVE, RF64 files and data
// sizes 0 or 0xFFFFFFFF (which streaming writers leave in place) are not
// checked; a missing final pad byte is allowed.
func checkWAV(abs string) error {
	f, err := os.Open(abs)
	if err != nil {
		return fmt.Errorf("av: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("av: %w", err)
	}
	missing, err := wavShortfall(f, fi.Size())
	if err != nil {
		return fmt.Errorf("av: %s: %w", abs, err)
	}
	if missing > 0 {
		return transforms.DecodeError(ReasonCorruptMedia, fmt.Sprintf(
			"%s: truncated WAV: the data chunk is %d bytes short of the size its header declares", filepath.Base(abs), missing))
	}
	return nil
}

// wavShortfall returns how many bytes of a RIFF/WAVE data chunk are missing
// from r (of the given size); 0 if none are, or if r is not such a file.
func wavShortfall(r io.ReadSeeker, size int64) (int64, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil // too short to be a WAV: ffprobe will say what it is
		}
		return 0, err
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return 0, nil
	}
	off := int64(12)
	for range maxRIFFChunks {
		var ch [8]byte
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, nil // no data chunk: ffprobe will fail on it
			}
			return 0, err
		}
		n := int64(binary.LittleEndian.Uint32(ch[4:8]))
		body := off + 8
		if string(ch[0:4]) == "data" {
			if n == 0 || n == 0xFFFFFFFF {
				return 0, nil
			}
			if have := size - body; n > have+1 {
				return n - have, nil
			}
			return 0, nil
		}
		off = body + n + n%2
		if off >= size {
			return 0, nil
		}
	}
	return 0, nil
}
