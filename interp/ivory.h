/* ivory.h -- lite boot of an ivory pill, as Vere's `urbit eval` does it.
 *
 * An ivory pill is the jam of [%ivory nok ver ~]: a formula and the trap
 * it runs on.  Lite boot cues it, evaluates *[[nok ver ~] [2 [0 3] [0 2]]]
 * and takes axis 7 of the product as the kernel: a core whose arm at axis
 * 10 makes the `wish` gate (text to value, against the whole standard
 * library).  Vere logs the kernel's mug ("lite: final state ..."); for the
 * shared ivory.pill it is 0x4bb376f0.
 *
 * The pill's body is copied to home before it runs, so every battery the
 * boot registers (through %fast) is a home noun, and so is the kernel.
 */
#ifndef NOCKLAB_IVORY_H
#define NOCKLAB_IVORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "interp/nock.h"
#include "interp/noun.h"

/* The mug of the kernel lite boot makes from the shared ivory.pill. */
#define IVORY_KERNEL_MUG 0x4bb376f0u

/* What a boot made and what each step cost. */
struct ivory_boot {
    noun kernel;            /* in home (not a root: the caller keeps it) */
    uint32_t kernel_mug;
    uint64_t pill_bytes;
    uint64_t nock_steps;
    double cue_seconds;     /* bytes to noun */
    double home_seconds;    /* the pill's body copied to home */
    double nock_seconds;    /* the boot formula */
    double keep_seconds;    /* the kernel copied to home */
};

/* Boot from the bytes of a jammed pill, evaluating in `nock` (whose home
 * receives the pill and kernel).  False with a one-line reason in `why`
 * when the bytes are not a pill, the boot crashes, or memory runs out.
 * Scratch is left holding garbage; the caller resets it. */
bool ivory_boot_bytes(struct nock_context *nock, const uint8_t *bytes, size_t length, struct ivory_boot *out,
                      char *why, size_t why_size);

/* The same from a file. */
bool ivory_boot_file(struct nock_context *nock, const char *path, struct ivory_boot *out, char *why,
                     size_t why_size);

#endif
