/*
 * A main() for the fuzz targets where libFuzzer is not linked: each file
 * named on the command line is read and given to LLVMFuzzerTestOneInput
 * once.  So any compiler builds the targets, and regress/fuzz.t replays
 * every committed input, the crashes fuzzing once found among them, in
 * the suite: under the sanitizers too, in `make sanitize`.
 */
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static uint8_t *
slurp(const char *path, size_t *lenp)
{
	FILE	*f;
	uint8_t	*buf = NULL, *nbuf;
	size_t	 len = 0, cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL)
		err(1, "%s", path);
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if ((nbuf = realloc(buf, cap)) == NULL)
				err(1, "%s", path);
			buf = nbuf;
		}
		if ((n = fread(buf + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f))
		err(1, "%s", path);
	(void)fclose(f);
	*lenp = len;
	return buf;
}

int
main(int argc, char *argv[])
{
	uint8_t	*data;
	size_t	 len;
	int	 i;

	for (i = 1; i < argc; i++) {
		data = slurp(argv[i], &len);
		(void)LLVMFuzzerTestOneInput(data, len);
		free(data);
	}
	return 0;
}
