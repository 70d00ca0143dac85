/*
 * bcryptprimitives.dll stand-in for Wine 8, which lacks ProcessPrng: Go
 * 1.22 and later take their random numbers from it on Windows. It exports
 * ProcessPrng on top of RtlGenRandom (advapi32 SystemFunction036). For tests
 * under Wine only; real Windows has the real DLL.
 *
 * x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
