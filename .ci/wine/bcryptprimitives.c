/*
 * A stand-in for bcryptprimitives.dll, which Debian's Wine 8.0 lacks (Wine
 * added it in 8.13) and Go's runtime (1.22 and later) loads at start-up for
 * its random source, ProcessPrng. It exists only so that Windows builds can
 * run under that Wine in CI; real Windows has the system's own.
 *
 * ProcessPrng fills the buffer from RtlGenRandom (advapi32's
 * SystemFunction036), which Wine 8.0 implements; that takes a ULONG length,
 * so a larger request is served in pieces. The real ProcessPrng never
 * fails; this one returns FALSE if RtlGenRandom does, and Go's runtime then
 * aborts, which is what a test run should do with no random source.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
	while (size > 0) {
		ULONG n = size > 0x10000000 ? 0x10000000 : (ULONG)size;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		size -= n;
	}
	return TRUE;
}
