package av

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pretext-dev/pretext/transforms"
)

// Info describes a media file as ffprobe reads it.
type Info struct {
	// Format is the demuxer's name as ffprobe reports it, e.g. "wav",
	// "matroska,webm" or "mov,mp4,m4a,3gp,3g2,mj2".
	Format string
	// Duration is the container's duration in seconds; 0 if unknown. For
	// some formats (MP3 without a Xing header, MPEG-TS) it is an estimate.
	Duration float64
	// Video is the first video stream that is not attached cover art; nil
	// if there is none.
	Video *VideoStream
	// Audio is the first audio stream; nil if there is none.
	Audio *AudioStream

	// badVideo and badAudio say why a stream of that kind exists but is
	// unusable (no size, no channels): Frames and Audio report corrupt
	// media for it rather than a missing stream.
	badVideo, badAudio string
}

// VideoStream is one video stream of an Info.
type VideoStream struct {
	// Index is the stream's index in the file (ffmpeg's -map 0:Index).
	Index int
	// Codec is ffmpeg's decoder name, e.g. "h264", "vp9".
	Codec string
	// Width and Height are the frame size as shown: when Rotation turns
	// the picture by 90 or 270 degrees they are the stored size swapped.
	// Frames returns images of this size.
	Width, Height int
	// Rotation is the display rotation the file asks for, in degrees
	// counterclockwise: 0, 90, 180 or 270. Frames applies it, as players do.
	Rotation int
	// FPS is the average frame rate; 0 if unknown.
	FPS float64
	// Duration is the stream's duration in seconds; 0 if unknown.
	Duration float64
	// Frames is the number of frames the container declares; 0 if unknown.
	Frames int64
}

// AudioStream is one audio stream of an Info.
type AudioStream struct {
	// Index is the stream's index in the file.
	Index int
	// Codec is ffmpeg's decoder name, e.g. "aac", "pcm_s16le", "opus".
	Codec string
	// SampleRate is in Hz; Audio decodes at this rate.
	SampleRate int
	// Channels is the number of channels; Audio mixes them to one.
	Channels int
	// Duration is the stream's duration in seconds; 0 if unknown.
	Duration float64
}

// maxProbeOutput bounds ffprobe's JSON: a few KiB for an ordinary file.
const maxProbeOutput = 4 << 20

// sideData is one entry of a stream's side_data_list.
type sideData struct {
	SideDataType string   `json:"side_data_type"`
	Rotation     *float64 `json:"rotation"`
}

// ffprobeJSON is the part of `ffprobe -of json -show_format -show_streams`
// that Probe reads.
type ffprobeJSON struct {
	Streams []struct {
		Index        int               `json:"index"`
		CodecType    string            `json:"codec_type"`
		CodecName    string            `json:"codec_name"`
		Width        int               `json:"width"`
		Height       int               `json:"height"`
		SampleRate   string            `json:"sample_rate"`
		Channels     int               `json:"channels"`
		AvgFrameRate string            `json:"avg_frame_rate"`
		RFrameRate   string            `json:"r_frame_rate"`
		Duration     string            `json:"duration"`
		NbFrames     string            `json:"nb_frames"`
		Tags         map[string]string `json:"tags"`
		Disposition  struct {
			AttachedPic int `json:"attached_pic"`
		} `json:"disposition"`
		SideDataList []sideData `json:"side_data_list"`
	} `json:"streams"`
	Format struct {
		FormatName string `json:"format_name"`
		Duration   string `json:"duration"`
	} `json:"format"`
}

// Probe is Runner{}.Probe.
func Probe(ctx context.Context, path string) (*Info, error) { return Runner{}.Probe(ctx, path) }

// Probe runs ffprobe on the file at path and describes its container and
// its first video and audio streams. A file ffprobe cannot read, an empty
// file and a WAV whose data chunk is cut short (which ffmpeg would decode
// without complaint) give ReasonCorruptMedia. A file with no stream of a
// kind is not an error here: Info.Video or Info.Audio is nil.
func (r Runner) Probe(ctx context.Context, path string) (*Info, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	url, abs, err := input(path)
	if err != nil {
		return nil, err
	}
	return r.probe(ctx, url, abs)
}

// probe is Probe after the input has been checked.
func (r Runner) probe(ctx context.Context, url, abs string) (*Info, error) {
	if err := checkWAV(abs); err != nil {
		return nil, err
	}
	prog, err := r.ffprobe()
	if err != nil {
		return nil, err
	}
	args := append([]string{"-hide_banner", "-loglevel", "level+error"}, r.inputArgs(url)...)
	args = append(args, "-of", "json", "-show_format", "-show_streams")
	log := newStderrLog(url, abs, nil)
	p := r.command(ctx, prog, args, log)
	var out bytes.Buffer
	lim := &limitedBuffer{buf: &out, max: maxProbeOutput}
	p.cmd.Stdout = lim
	if err := p.start(); err != nil {
		return nil, err
	}
	if err := p.wait(); err != nil {
		return nil, err
	}
	base := filepath.Base(abs)
	if lim.over {
		return nil, transforms.DecodeError(ReasonCorruptMedia, fmt.Sprintf("%s: ffprobe's description is over %d bytes", base, maxProbeOutput))
	}
	return parseProbe(out.Bytes(), base)
}

// parseProbe reads ffprobe's JSON.
func parseProbe(data []byte, base string) (*Info, error) {
	var pj ffprobeJSON
	if err := json.Unmarshal(data, &pj); err != nil {
		return nil, transforms.DecodeError(ReasonCorruptMedia, fmt.Sprintf("%s: ffprobe output: %v", base, err))
	}
	info := &Info{Format: pj.Format.FormatName, Duration: seconds(pj.Format.Duration)}
	for _, s := range pj.Streams {
		switch s.CodecType {
		case "video":
			if info.Video != nil || s.Disposition.AttachedPic != 0 {
				continue
			}
			if s.Width <= 0 || s.Height <= 0 {
				if info.badVideo == "" {
					info.badVideo = fmt.Sprintf("%s: video stream %d (%s) has no frame size", base, s.Index, s.CodecName)
				}
				continue
			}
			v := &VideoStream{Index: s.Index, Codec: s.CodecName, Width: s.Width, Height: s.Height,
				Duration: seconds(s.Duration)}
			v.FPS = rate(s.AvgFrameRate)
			if v.FPS == 0 {
				v.FPS = rate(s.RFrameRate)
			}
			v.Frames, _ = strconv.ParseInt(s.NbFrames, 10, 64)
			v.Rotation = rotation(s.Tags, s.SideDataList)
			if v.Rotation%180 != 0 {
				v.Width, v.Height = v.Height, v.Width
			}
			info.Video = v
		case "audio":
			if info.Audio != nil {
				continue
			}
			sr, _ := strconv.Atoi(s.SampleRate)
			if sr <= 0 || s.Channels <= 0 {
				if info.badAudio == "" {
					info.badAudio = fmt.Sprintf("%s: audio stream %d (%s) has %d Hz, %d channels", base, s.Index, s.CodecName, sr, s.Channels)
				}
				continue
			}
			info.Audio = &AudioStream{Index: s.Index, Codec: s.CodecName, SampleRate: sr, Channels: s.Channels,
				Duration: seconds(s.Duration)}
		}
	}
	return info, nil
}

// seconds parses ffprobe's decimal seconds; "N/A", negative or unparsable
// give 0 (unknown).
func seconds(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// rate parses ffprobe's "num/den" frame rates; "0/0" gives 0.
func rate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		return 0
	}
	n, err1 := strconv.ParseFloat(num, 64)
	d, err2 := strconv.ParseFloat(den, 64)
	if err1 != nil || err2 != nil || !(n > 0) || !(d > 0) {
		return 0
	}
	return n / d
}

// rotation is a stream's display rotation in degrees counterclockwise,
// normalised to 0, 90, 180 or 270: from its display matrix as ffprobe
// reports it, or else from the clockwise "rotate" tag older ffprobes print.
func rotation(tags map[string]string, side []sideData) int {
	deg := 0.0
	found := false
	for _, sd := range side {
		if sd.SideDataType == "Display Matrix" && sd.Rotation != nil {
			deg, found = *sd.Rotation, true
			break
		}
	}
	if !found {
		if t, err := strconv.ParseFloat(tags["rotate"], 64); err == nil {
			deg = -t
		}
	}
	if math.IsNaN(deg) || math.IsInf(deg, 0) {
		return 0
	}
	r := int(math.Round(math.Mod(deg, 360)/90)) * 90 % 360
	if r < 0 {
		r += 360
	}
	return r
}
