package sinks

// SchemaVersion is the version of the row types below; it is written into every
// shard's footer and bumped whenever a column changes meaning or type.
const SchemaVersion = "1"

// Row is what the sinks need to know of a row type: its sort key.
type Row interface {
	RowKey() string
	RowVariant() int32
}

// ColorizeRow is one example of the colorize task: a grayscale input and its
// colour target, with the Lab ab channels and their quantised bins.
type ColorizeRow struct {
	Key          string  `parquet:"key"`
	Source       string  `parquet:"source"`
	Variant      int32   `parquet:"variant"`
	Split        string  `parquet:"split"`
	Width        int32   `parquet:"width"`
	Height       int32   `parquet:"height"`
	Encoding     string  `parquet:"encoding"`
	Input        []byte  `parquet:"input"`
	Target       []byte  `parquet:"target"`
	TargetAB     []int8  `parquet:"target_ab,list"`
	ABBins       []int16 `parquet:"ab_bins,list"`
	ABStride     int32   `parquet:"ab_stride"`
	ABHeight     int32   `parquet:"ab_height"`
	ABWidth      int32   `parquet:"ab_width"`
	SourceIsGray bool    `parquet:"source_is_gray"`
}

// DenoiseRow is one example of the denoise task: a noisy input and the clean target.
type DenoiseRow struct {
	Key        string  `parquet:"key"`
	Source     string  `parquet:"source"`
	Variant    int32   `parquet:"variant"`
	Split      string  `parquet:"split"`
	Width      int32   `parquet:"width"`
	Height     int32   `parquet:"height"`
	Encoding   string  `parquet:"encoding"`
	Input      []byte  `parquet:"input"`
	Target     []byte  `parquet:"target"`
	Noise      string  `parquet:"noise"`
	NoiseLevel float32 `parquet:"noise_level"`
}

// InpaintRow is one example of the inpaint task: an input with holes, the hole
// mask (255 = hole) and the complete target.
type InpaintRow struct {
	Key       string  `parquet:"key"`
	Source    string  `parquet:"source"`
	Variant   int32   `parquet:"variant"`
	Split     string  `parquet:"split"`
	Width     int32   `parquet:"width"`
	Height    int32   `parquet:"height"`
	Encoding  string  `parquet:"encoding"`
	Input     []byte  `parquet:"input"`
	Target    []byte  `parquet:"target"`
	Mask      []byte  `parquet:"mask"`
	MaskKind  string  `parquet:"mask_kind"`
	MaskRatio float32 `parquet:"mask_ratio"`
}

// DeadLetter is an input that could not be labeled, with the stage that gave
// up on it and why.
type DeadLetter struct {
	Key    string `parquet:"key"`
	Source string `parquet:"source"`
	Stage  string `parquet:"stage"`
	Reason string `parquet:"reason"`
	Detail string `parquet:"detail"`
}

func (r ColorizeRow) RowKey() string    { return r.Key }
func (r ColorizeRow) RowVariant() int32 { return r.Variant }
func (r DenoiseRow) RowKey() string     { return r.Key }
func (r DenoiseRow) RowVariant() int32  { return r.Variant }
func (r InpaintRow) RowKey() string     { return r.Key }
func (r InpaintRow) RowVariant() int32  { return r.Variant }
func (r DeadLetter) RowKey() string     { return r.Key + "\x00" + r.Source }
func (r DeadLetter) RowVariant() int32  { return 0 }

// DeadLetters is the name of the dataset dead letters are written to.
const DeadLetters = "_dead_letters"

// DeadLetterFormat is the dead-letter row format.
var DeadLetterFormat = FormatOf[DeadLetter]()

// MLMRow is one BERT pretraining instance: [CLS] A [SEP] B [SEP] with its
// masked positions, as google-research/bert's create_pretraining_data.py
// makes them, unpadded.
type MLMRow struct {
	Key               string  `parquet:"key"`
	DocIDA            string  `parquet:"doc_id_a"`
	DocIDB            string  `parquet:"doc_id_b"`
	Dupe              int32   `parquet:"dupe"`
	InputIDs          []int32 `parquet:"input_ids,list"`
	SegmentIDs        []int32 `parquet:"segment_ids,list"`
	MaskedLMPositions []int32 `parquet:"masked_lm_positions,list"`
	MaskedLMIDs       []int32 `parquet:"masked_lm_ids,list"`
	IsRandomNext      bool    `parquet:"is_random_next"`
	NumTokens         int32   `parquet:"num_tokens"`
}

func (r MLMRow) RowBytes() int {
	return 4*(len(r.InputIDs)+len(r.SegmentIDs)+len(r.MaskedLMPositions)+len(r.MaskedLMIDs)) + len(r.Key) + len(r.DocIDA) + len(r.DocIDB)
}

func (r ColorizeRow) RowBytes() int {
	return len(r.Input) + len(r.Target) + len(r.TargetAB) + 2*len(r.ABBins) + len(r.Key) + len(r.Source)
}
func (r DenoiseRow) RowBytes() int { return len(r.Input) + len(r.Target) + len(r.Key) + len(r.Source) }
func (r InpaintRow) RowBytes() int {
	return len(r.Input) + len(r.Target) + len(r.Mask) + len(r.Key) + len(r.Source)
}
func (r DeadLetter) RowBytes() int {
	return len(r.Key) + len(r.Source) + len(r.Stage) + len(r.Reason) + len(r.Detail)
}

func (r MLMRow) RowKey() string    { return r.Key }
func (r MLMRow) RowVariant() int32 { return r.Dupe }

// AVRow is one audio-visual correspondence example (Arandjelović & Zisserman,
// "Look, Listen and Learn"): a video frame and a log-mel window of audio,
// labelled 1 when the audio is the frame's own (the window around the frame's
// time in the same video) and 0 when it is a negative: audio of another video
// (negative_kind "other_video") or of the same video at least min_offset
// seconds away from the frame (negative_kind "time_shift", a hard negative as
// in AVTS).
type AVRow struct {
	Key          string    `parquet:"key"`
	Video        string    `parquet:"video"`
	AudioVideo   string    `parquet:"audio_video"`
	Source       string    `parquet:"source"`
	Split        string    `parquet:"split"`
	Width        int32     `parquet:"width"`
	Height       int32     `parquet:"height"`
	Encoding     string    `parquet:"encoding"`
	Frame        []byte    `parquet:"frame"`
	FrameTimeS   float64   `parquet:"frame_time_s"`
	AudioStartS  float64   `parquet:"audio_start_s"`
	AudioSeconds float64   `parquet:"audio_seconds"`
	SampleRate   int32     `parquet:"sample_rate"`
	LogMel       []float32 `parquet:"log_mel,list"`
	MelBins      int32     `parquet:"mel_bins"`
	MelFrames    int32     `parquet:"mel_frames"`
	Label        int32     `parquet:"label"`
	NegativeKind string    `parquet:"negative_kind"`
	Silent       bool      `parquet:"silent"`
	AudioDBFS    float32   `parquet:"audio_dbfs"`
}

func (r AVRow) RowKey() string    { return r.Key }
func (r AVRow) RowVariant() int32 { return 0 }
func (r AVRow) RowBytes() int {
	return len(r.Key) + len(r.Video) + len(r.AudioVideo) + len(r.Source) + len(r.Frame) + 4*len(r.LogMel)
}

// AudioMaskRow is one masked-spectrogram-modelling example: a clip's log-mel
// with time and frequency spans replaced by a fill value (the input), the
// mask (1 = masked, same shape, row-major [frame][bin]) and the unmasked
// log-mel (the target).
type AudioMaskRow struct {
	Key           string    `parquet:"key"`
	Source        string    `parquet:"source"`
	Split         string    `parquet:"split"`
	ClipStartS    float64   `parquet:"clip_start_s"`
	ClipSeconds   float64   `parquet:"clip_seconds"`
	SampleRate    int32     `parquet:"sample_rate"`
	MelBins       int32     `parquet:"mel_bins"`
	MelFrames     int32     `parquet:"mel_frames"`
	Input         []float32 `parquet:"input,list"`
	Target        []float32 `parquet:"target,list"`
	Mask          []byte    `parquet:"mask"`
	Fill          float32   `parquet:"fill"`
	TimeMaskShare float32   `parquet:"time_mask_share"`
	FreqMaskShare float32   `parquet:"freq_mask_share"`
	Silent        bool      `parquet:"silent"`
	AudioDBFS     float32   `parquet:"audio_dbfs"`
}

func (r AudioMaskRow) RowKey() string    { return r.Key }
func (r AudioMaskRow) RowVariant() int32 { return 0 }
func (r AudioMaskRow) RowBytes() int {
	return len(r.Key) + len(r.Source) + 4*(len(r.Input)+len(r.Target)) + len(r.Mask)
}
