import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.util.Arrays;

/**
 * The few DER encodings the examples need (a PKCS#10 CSR, an OCSP request) and one
 * decoding (the BIT STRING of a SubjectPublicKeyInfo). The JDK builds and parses
 * certificates, OCSP responses and signatures itself, but offers no public encoder for
 * requests.
 */
final class Der {
    private Der() {}

    /** Tag, length, value. */
    static byte[] tlv(int tag, byte[]... parts) {
        ByteArrayOutputStream content = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            content.writeBytes(part);
        }
        byte[] value = content.toByteArray();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int n = value.length;
        if (n < 0x80) {
            out.write(n);
        } else {
            byte[] length = BigInteger.valueOf(n).toByteArray();
            int skip = length[0] == 0 ? 1 : 0;
            out.write(0x80 | (length.length - skip));
            out.write(length, skip, length.length - skip);
        }
        out.writeBytes(value);
        return out.toByteArray();
    }

    static byte[] sequence(byte[]... parts) {
        return tlv(0x30, parts);
    }

    static byte[] integer(BigInteger value) {
        return tlv(0x02, value.toByteArray());
    }

    static byte[] octetString(byte[] value) {
        return tlv(0x04, value);
    }

    static byte[] nullValue() {
        return new byte[] {0x05, 0x00};
    }

    /** A BIT STRING with no unused bits. */
    static byte[] bitString(byte[] value) {
        byte[] content = new byte[value.length + 1];
        System.arraycopy(value, 0, content, 1, value.length);
        return tlv(0x03, content);
    }

    /** An OBJECT IDENTIFIER from its dotted form. */
    static byte[] oid(String dotted) {
        String[] arcs = dotted.split("\\.");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(Integer.parseInt(arcs[0]) * 40 + Integer.parseInt(arcs[1]));
        for (int i = 2; i < arcs.length; i++) {
            long arc = Long.parseLong(arcs[i]);
            byte[] base128 = new byte[10];
            int n = 0;
            do {
                base128[n++] = (byte) (arc & 0x7f);
                arc >>>= 7;
            } while (arc != 0);
            for (int j = n - 1; j >= 0; j--) {
                out.write(base128[j] | (j > 0 ? 0x80 : 0));
            }
        }
        return tlv(0x06, out.toByteArray());
    }

    /**
     * The subjectPublicKey BIT STRING's bytes (without the unused-bits octet) of a DER
     * SubjectPublicKeyInfo, as {@code PublicKey.getEncoded()} returns it: what an OCSP
     * CertID's issuerKeyHash is computed over (RFC 6960 §4.1.1).
     */
    static byte[] subjectPublicKeyBits(byte[] spki) {
        int[] at = {0};
        expect(spki, at, 0x30);
        length(spki, at);
        expect(spki, at, 0x30); // AlgorithmIdentifier: skipped
        int skip = length(spki, at); // read first: it moves at[0]
        at[0] += skip;
        expect(spki, at, 0x03);
        int n = length(spki, at);
        return Arrays.copyOfRange(spki, at[0] + 1, at[0] + n);
    }

    private static void expect(byte[] der, int[] at, int tag) {
        if ((der[at[0]] & 0xff) != tag) {
            throw new IllegalArgumentException("unexpected DER tag at " + at[0]);
        }
        at[0]++;
    }

    private static int length(byte[] der, int[] at) {
        int first = der[at[0]++] & 0xff;
        if (first < 0x80) {
            return first;
        }
        int n = 0;
        for (int i = 0; i < (first & 0x7f); i++) {
            n = (n << 8) | (der[at[0]++] & 0xff);
        }
        return n;
    }
}
