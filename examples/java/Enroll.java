import java.io.IOException;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.util.Base64;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Enrolls with paypki: an ECDSA P-256 key made here with {@code java.security}, a PKCS#10
 * CSR, {@code POST /v1/enroll} with a one-time token.
 *
 * <pre>
 * PAYPKI_URL=http://127.0.0.1:8080 java Enroll --token ppt_… --out-dir merchant
 * </pre>
 *
 * <p>Writes OUT_DIR/key.pem (PKCS#8, 0600), cert.pem and chain.pem (the issuing CA, then
 * the root) and prints the serial. The key and its CSR (request.csr) are written
 * <em>before</em> the request: if the answer is lost after the CA issued, running the
 * same command again sends that CSR (the same key) with the same token, and the CA
 * answers 200 with the certificate it already issued (the token alone cannot be used
 * twice).
 *
 * <p>Exit status: 0 enrolled; 1 refused; 2 bad arguments; 3 no answer after the retries
 * (the key is kept: run the same command again).
 */
public final class Enroll {
    private static final Set<Integer> RETRYABLE = Set.of(429, 500, 502, 503, 504);
    /** ecdsa-with-SHA256 (RFC 5758 §3.2): its AlgorithmIdentifier has no parameters. */
    private static final String ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";

    public static void main(String[] args) throws Exception {
        String url = System.getenv().getOrDefault("PAYPKI_URL", "http://127.0.0.1:8080");
        String token = null, outDir = null;
        int attempts = 4;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--url" -> url = args[++i];
                    case "--token" -> token = args[++i].trim();
                    case "--out-dir" -> outDir = args[++i];
                    case "--attempts" -> attempts = Integer.parseInt(args[++i]);
                    default -> throw new IllegalArgumentException("unknown argument " + args[i]);
                }
            }
            if (token == null || outDir == null) {
                throw new IllegalArgumentException("give --token and --out-dir");
            }
        } catch (RuntimeException e) {
            System.err.println("usage: Enroll --token TOKEN --out-dir DIR [--url URL] [--attempts N]: " + e.getMessage());
            System.exit(2);
        }

        Path dir = Files.createDirectories(Path.of(outDir));
        Path keyFile = dir.resolve("key.pem");
        Path csrFile = dir.resolve("request.csr");
        Path certFile = dir.resolve("cert.pem");
        boolean madeNow = false;
        String csr;
        if (Files.exists(keyFile)) {
            if (Files.exists(certFile) || !Files.exists(csrFile)) {
                System.err.println("error: " + keyFile + " exists and this is not an attempt to finish: choose another --out-dir");
                System.exit(2);
            }
            System.err.println(keyFile + " exists without a certificate: sending its request again");
            csr = Files.readString(csrFile);
        } else {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair key = generator.generateKeyPair();
            writeKey(keyFile, key.getPrivate());
            csr = csrPem(key);
            Files.writeString(csrFile, csr);
            madeNow = true;
        }

        String body = "{\"token\":" + Json.quote(token) + ",\"csr\":" + Json.quote(csr) + "}";
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create(url.replaceAll("/+$", "") + "/v1/enroll"))
                .timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        double delay = 0.5;
        String last = "no attempt made";
        for (int attempt = 1; attempt <= attempts; attempt++) {
            try {
                HttpResponse<String> response = client.send(request, HttpResponse.BodyHandlers.ofString());
                int status = response.statusCode();
                if (status == 200 || status == 201) {
                    Object issued = Json.parse(response.body());
                    Files.writeString(certFile, (String) Json.get(issued, "certificate"));
                    Files.writeString(dir.resolve("chain.pem"), (String) Json.get(issued, "chain"));
                    System.out.println(Json.get(issued, "serial"));
                    System.err.println("enrolled as " + Json.get(issued, "subject") + " (" + Json.get(issued, "role")
                            + "), valid until " + Json.get(issued, "not_after")
                            + (status == 200 ? "; the certificate of an earlier attempt" : ""));
                    System.exit(0);
                }
                String detail = VerifyPayment.problemDetail(response.body());
                if (!RETRYABLE.contains(status)) {
                    if (madeNow) {
                        // Refused: no certificate exists for this key.
                        Files.delete(keyFile);
                        Files.delete(csrFile);
                    }
                    System.err.println("error: HTTP " + status + ": " + detail);
                    System.exit(1);
                }
                last = "HTTP " + status + ": " + detail;
            } catch (IOException e) {
                // The CA may have issued before the connection broke: retrying with the
                // same key is safe, it answers 200 with that certificate.
                last = "cannot reach " + url + ": " + e;
            }
            if (attempt < attempts) {
                Thread.sleep((long) (1000 * delay * (0.5 + ThreadLocalRandom.current().nextDouble())));
                delay *= 2;
            }
        }
        System.err.println("error: no answer after " + attempts + " attempts: " + last + "; " + keyFile
                + " is kept: run the same command again");
        System.exit(3);
    }

    /**
     * A PKCS#10 CertificationRequest (RFC 2986) with an empty subject (the token decides
     * the names) and no attributes, signed with the key as proof of possession.
     */
    static String csrPem(KeyPair key) throws GeneralSecurityException {
        byte[] info = Der.sequence(
                Der.integer(BigInteger.ZERO), // version v1
                Der.sequence(), // subject: empty
                key.getPublic().getEncoded(), // SubjectPublicKeyInfo, DER
                Der.tlv(0xa0)); // attributes [0]: none
        Signature signer = Signature.getInstance("SHA256withECDSA"); // DER (r, s), as X.509 wants
        signer.initSign(key.getPrivate());
        signer.update(info);
        byte[] csr = Der.sequence(info, Der.sequence(Der.oid(ECDSA_WITH_SHA256)), Der.bitString(signer.sign()));
        return pem("CERTIFICATE REQUEST", csr);
    }

    static String pem(String label, byte[] der) {
        String base64 = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
        return "-----BEGIN " + label + "-----\n" + base64 + "\n-----END " + label + "-----\n";
    }

    /** PKCS#8 PEM, 0600 from the start, never over an existing file. */
    static void writeKey(Path file, PrivateKey key) throws IOException {
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(file, pem("PRIVATE KEY", key.getEncoded()), StandardOpenOption.TRUNCATE_EXISTING);
    }
}
