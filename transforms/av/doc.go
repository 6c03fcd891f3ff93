// Package av reads video and audio files with the ffmpeg and ffprobe
// programs: Probe describes a file's streams, Frames samples a video stream
// into RGB images at a fixed rate, Audio decodes the first audio stream to
// mono float32 samples. It is also how audio other than WAV (MP3, FLAC, Ogg,
// AAC in M4A/MP4) is decoded. It has no Beam code: the DoFns of the av tasks
// call Check once in Setup and these functions per element.
//
// A video-group task (av_correspond, correspond.go) is an av.GroupLabeler
// (group.go): the pipeline gathers videos into groups (their sampled frames
// and sound features, av.Video), and GroupTasks labels each group for every
// such task of a run, its rows seeded by (seed, task, key, 0).
//
// Every failure caused by the input is a *transforms.InputError with a stable Reason
// (corrupt_media, no_video_stream, no_audio_stream, too_large, timeout),
// which a pipeline turns into a dead letter. A missing ffmpeg is a *transforms.InputError
// too (ffmpeg_missing) but a failure of the machine: a DoFn returns it and
// the job fails. Cancelling the caller's context returns the context's
// error, not a *transforms.InputError.
//
// Processes: each runs under a deadline (Runner.Timeout, 60 s by default),
// is killed when the deadline passes or the caller's context ends, and is
// always waited for, so none is left behind as a zombie. Its stderr is
// parsed as it streams and only its last warning and error lines are kept,
// for the Detail of a *transforms.InputError. Inputs are opened as file: URLs with the
// file protocol and a list of common media demuxers only (Runner.Demuxers),
// so a crafted input cannot make ffmpeg read playlists, other files or the
// network.
//
// Reproducibility: for one ffmpeg build, the same file gives the same bytes
// on every run and every x86-64 CPU. Frames decodes with -flags +bitexact
// (which selects bit-exact IDCTs in the MPEG-2/MPEG-4/MJPEG decoders; H.264,
// HEVC, VP8/9 and AV1 decoding is bit-exact by specification) and converts
// to RGB with swscale's bitexact, accurate_rnd and full_chroma_int flags, the
// only conversion that gives the same bytes with and without SIMD. Audio runs
// ffmpeg with -cpuflags 0: the float decoders (AAC, MP3, Vorbis, Opus) give
// different low bits with and without SIMD, and audio decoding is cheap. Both
// use one decoder thread and one filter thread (Runner.Threads), which also
// keeps one element's CPU use to one core. Different ffmpeg versions may
// differ.
//
// ffmpeg 5.1 or newer is needed (-fps_mode).
package av
