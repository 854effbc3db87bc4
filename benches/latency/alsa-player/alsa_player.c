// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * alsa-player: the plain alsa-lib peer of the latency benchmark
 * (docs/latency.md). Blocking snd_pcm_writei() of one period at a time,
 * S16_LE stereo 48 kHz, start when the ring is full, SCHED_FIFO 80 when
 * permitted.
 *
 *   alsa-player DEVICE TAG BUFFER_FRAMES PERIOD_FRAMES CLICKS SECONDS
 *
 * CLICKS > 0: play the pilot and CLICKS clicks (25..45 ms apart after a
 * 0.5 s warm-up), then 0.3 s more. CLICKS == 0: a probe, the pilot alone
 * for SECONDS. The signal follows benches/latency/signal/src/lib.rs:
 * channel 1 carries (k % 32000) + 1 for player frame k, a click frame has
 * 32767 on channel 0 and its id on channel 1. T_trigger is taken just
 * before the writei() call whose chunk starts with the click.
 *
 * Output (stdout): "T tag id t_trigger_ns" per click, then
 * "R tag sent=.. xruns=.. buffer=.. period=.. fifo=.. cpu_ms=..".
 */
#include <alsa/asoundlib.h>
#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RATE 48000
#define CHANNELS 2
#define PILOT_PERIOD 32000
#define CLICK 32767

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64, as in the Rust players */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static uint64_t rng_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + rng_next(s) % (hi - lo + 1);
}

static int fail(const char *tag, const char *what, int err)
{
	printf("E %s %s:_%s\n", tag, what, snd_strerror(err));
	fprintf(stderr, "alsa-player %s: %s: %s\n", tag, what, snd_strerror(err));
	return 1;
}

static int configure(snd_pcm_t *pcm, const char *tag, snd_pcm_uframes_t *buffer,
		     snd_pcm_uframes_t *period)
{
	snd_pcm_hw_params_t *hw;
	snd_pcm_sw_params_t *sw;
	unsigned int rate = RATE;
	int err;

	snd_pcm_hw_params_alloca(&hw);
	snd_pcm_sw_params_alloca(&sw);
	err = snd_pcm_hw_params_any(pcm, hw);
	if (!err)
		err = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED);
	if (!err)
		err = snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE);
	if (!err)
		err = snd_pcm_hw_params_set_channels(pcm, hw, CHANNELS);
	if (!err)
		err = snd_pcm_hw_params_set_rate_near(pcm, hw, &rate, NULL);
	if (!err)
		err = snd_pcm_hw_params_set_period_size_near(pcm, hw, period, NULL);
	if (!err)
		err = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, buffer);
	if (!err)
		err = snd_pcm_hw_params(pcm, hw);
	if (err)
		return fail(tag, "hw_params", err);
	snd_pcm_get_params(pcm, buffer, period);
	if (rate != RATE)
		return fail(tag, "rate", -EINVAL);

	err = snd_pcm_sw_params_current(pcm, sw);
	if (!err)
		err = snd_pcm_sw_params_set_start_threshold(pcm, sw, *buffer);
	if (!err)
		err = snd_pcm_sw_params_set_avail_min(pcm, sw, *period);
	if (!err)
		err = snd_pcm_sw_params(pcm, sw);
	if (err)
		return fail(tag, "sw_params", err);
	return 0;
}

int main(int argc, char **argv)
{
	const char *device, *tag;
	snd_pcm_uframes_t buffer, period;
	unsigned long clicks, sent = 0, xruns = 0, id;
	uint64_t seconds, seed, k = 0, next_at, t0, tail_from = 0;
	uint64_t *trigger;
	struct sched_param sp = { .sched_priority = 80 };
	struct rusage ru;
	int16_t *chunk;
	snd_pcm_t *pcm;
	int err, fifo;

	if (argc != 7) {
		fprintf(stderr, "usage: %s DEVICE TAG BUFFER_FRAMES PERIOD_FRAMES CLICKS SECONDS\n",
			argv[0]);
		return 2;
	}
	device = argv[1];
	tag = argv[2];
	buffer = strtoul(argv[3], NULL, 0);
	period = strtoul(argv[4], NULL, 0);
	clicks = strtoul(argv[5], NULL, 0);
	seconds = strtoull(argv[6], NULL, 0);
	if (!buffer || !period || clicks > 30000)
		return fail(tag, "arguments", -EINVAL);

	err = snd_pcm_open(&pcm, device, SND_PCM_STREAM_PLAYBACK, 0);
	if (err)
		return fail(tag, "open", err);
	if (configure(pcm, tag, &buffer, &period))
		return 1;
	fifo = sched_setscheduler(0, SCHED_FIFO, &sp) == 0;

	chunk = calloc(period * CHANNELS, sizeof(*chunk));
	trigger = calloc(clicks + 1, sizeof(*trigger));
	if (!chunk || !trigger)
		return fail(tag, "calloc", -ENOMEM);

	seed = now_ns() | 1;
	next_at = RATE / 2 + rng_range(&seed, 0, 25 * RATE / 1000);
	t0 = now_ns();
	for (;;) {
		uint64_t now = now_ns();
		snd_pcm_uframes_t i;
		snd_pcm_sframes_t n;
		int click = 0;

		if (clicks ? sent >= clicks : now - t0 >= seconds * 1000000000ull) {
			if (!tail_from)
				tail_from = now;
			else if (now - tail_from >= 300000000ull)
				break;
		}
		for (i = 0; i < period; i++) {
			chunk[2 * i] = 0;
			chunk[2 * i + 1] = (int16_t)((k + i) % PILOT_PERIOD + 1);
		}
		if (sent < clicks && k >= next_at) {
			sent++;
			chunk[0] = CLICK;
			chunk[1] = (int16_t)sent;
			next_at = k + rng_range(&seed, 25 * RATE / 1000, 45 * RATE / 1000);
			click = 1;
		}
		if (click)
			trigger[sent] = now_ns();
		for (i = 0; i < period;) {
			n = snd_pcm_writei(pcm, chunk + i * CHANNELS, period - i);
			if (n == -EPIPE) {
				xruns++;
				err = snd_pcm_prepare(pcm);
				if (err)
					return fail(tag, "prepare", err);
				continue;
			}
			if (n < 0) {
				err = snd_pcm_recover(pcm, (int)n, 1);
				if (err)
					return fail(tag, "writei", err);
				continue;
			}
			i += (snd_pcm_uframes_t)n;
		}
		k += period;
	}
	snd_pcm_drop(pcm);
	snd_pcm_close(pcm);
	for (id = 1; id <= sent; id++)
		printf("T %s %lu %llu\n", tag, id, (unsigned long long)trigger[id]);
	getrusage(RUSAGE_SELF, &ru);
	printf("R %s sent=%lu xruns=%lu buffer=%lu period=%lu fifo=%d cpu_ms=%lu\n", tag, sent,
	       xruns, (unsigned long)buffer, (unsigned long)period, fifo,
	       (unsigned long)(ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
			       ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000));
	free(chunk);
	free(trigger);
	return 0;
}
