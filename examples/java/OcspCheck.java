import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateRevokedException;
import java.security.cert.PKIXParameters;
import java.security.cert.PKIXReason;
import java.security.cert.PKIXRevocationChecker;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Checks a certificate's status over OCSP, with the JDK's own PKIX validator judging the
 * answer.
 *
 * <pre>
 * java OcspCheck --cert merchant/cert.pem --chain merchant/chain.pem [--root-sha256 HEX]
 * </pre>
 *
 * <p>The request is built here (a SHA-1 CertID, as RFC 5019 §2.1.1 requires responders to
 * accept) and sent with {@code java.net.http} to the OCSP URL the certificate names. The
 * response is handed to {@link PKIXRevocationChecker} ({@code setOcspResponses}), which
 * validates the path to the root and accepts the response only if (RFC 6960 §3.2 and
 * §4.2.2.2): it is signed by the issuing CA itself or by a delegated responder whose
 * certificate that CA issued directly, with the id-kp-OCSPSigning extended key usage,
 * valid now; its signature verifies; it answers for this certificate's CertID; and it is
 * fresh (thisUpdate/nextUpdate, with the JDK's 15 minutes of clock skew). Options
 * {@code ONLY_END_ENTITY} and {@code NO_FALLBACK}: only the participant's certificate is
 * checked, over OCSP only, and a failure is a failure (no soft-fail).
 *
 * <p>The root is taken from the chain file: a relying party must compare its SHA-256
 * fingerprint with the one the CA published out of band ({@code --root-sha256}).
 *
 * <p>Exit status: 0 good; 1 revoked or unknown; 2 bad arguments; 3 no answer
 * (unreachable, HTTP error); 4 the response or the chain failed a check — do not trust
 * it, fail closed. {@code --response FILE} checks a saved DER response instead of fetching.
 */
public final class OcspCheck {
    private static final String SHA1 = "1.3.14.3.2.26";
    private static final String AIA = "1.3.6.1.5.5.7.1.1";
    private static final byte[] ID_AD_OCSP = Der.oid("1.3.6.1.5.5.7.48.1");

    public static void main(String[] args) throws Exception {
        String certFile = null, chainFile = null, url = null, responseFile = null, rootSha256 = null;
        try {
            for (int i = 0; i < args.length; i++) {
                switch (args[i]) {
                    case "--cert" -> certFile = args[++i];
                    case "--chain" -> chainFile = args[++i];
                    case "--url" -> url = args[++i];
                    case "--response" -> responseFile = args[++i];
                    case "--root-sha256" -> rootSha256 = args[++i].replace(":", "").toLowerCase();
                    default -> throw new IllegalArgumentException("unknown argument " + args[i]);
                }
            }
            if (certFile == null || chainFile == null) {
                throw new IllegalArgumentException("give --cert and --chain");
            }
        } catch (RuntimeException e) {
            System.err.println("usage: OcspCheck --cert PEM --chain PEM [--url URL] [--response DER]"
                    + " [--root-sha256 HEX]: " + e.getMessage());
            System.exit(2);
        }

        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        X509Certificate leaf = read(factory, certFile).get(0);
        List<X509Certificate> chain = read(factory, chainFile);
        X509Certificate issuer = null, root = null;
        for (X509Certificate candidate : chain) {
            if (candidate.getSubjectX500Principal().equals(leaf.getIssuerX500Principal())) {
                issuer = candidate;
            }
            if (candidate.getSubjectX500Principal().equals(candidate.getIssuerX500Principal())) {
                root = candidate;
            }
        }
        if (issuer == null || root == null) {
            System.err.println("error: the chain file must hold the certificate's issuing CA and the root");
            System.exit(2);
        }
        String fingerprint = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(root.getEncoded()));
        if (rootSha256 != null && !rootSha256.equals(fingerprint)) {
            System.err.println("untrusted: the root's SHA-256 fingerprint is " + fingerprint + ", not the published one");
            System.exit(4);
        }

        byte[] response;
        if (responseFile != null) {
            response = Files.readAllBytes(Path.of(responseFile));
        } else {
            if (url == null) {
                url = ocspUrl(leaf);
            }
            try {
                response = fetch(url, request(leaf, issuer));
            } catch (IOException e) {
                System.err.println("no answer: " + e.getMessage());
                System.exit(3);
                return;
            }
        }

        CertPathValidator validator = CertPathValidator.getInstance("PKIX");
        PKIXRevocationChecker checker = (PKIXRevocationChecker) validator.getRevocationChecker();
        checker.setOptions(EnumSet.of(PKIXRevocationChecker.Option.ONLY_END_ENTITY,
                PKIXRevocationChecker.Option.NO_FALLBACK));
        checker.setOcspResponses(Map.of(leaf, response));
        PKIXParameters parameters = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
        parameters.addCertPathChecker(checker);
        CertPath path = factory.generateCertPath(List.of(leaf, issuer));
        try {
            validator.validate(path, parameters);
            System.out.println("good (the chain validates to the root; the OCSP answer is signed, fresh and for this certificate)");
            System.exit(0);
        } catch (CertPathValidatorException e) {
            if (e.getReason() == CertPathValidatorException.BasicReason.REVOKED
                    && e.getCause() instanceof CertificateRevokedException revoked) {
                System.out.println("revoked at " + revoked.getRevocationDate().toInstant()
                        + " (" + revoked.getRevocationReason() + ")");
                System.exit(1);
            }
            String message = String.valueOf(e.getMessage());
            if (e.getReason() == CertPathValidatorException.BasicReason.UNDETERMINED_REVOCATION_STATUS
                    && message.contains("revocation status is unknown")) {
                System.out.println("unknown");
                System.exit(1);
            }
            String what = e.getReason() instanceof PKIXReason ? "the chain" : "the OCSP response";
            System.err.println("untrusted: " + what + " failed validation (" + e.getReason() + "): " + message);
            System.exit(4);
        }
    }

    static List<X509Certificate> read(CertificateFactory factory, String file)
            throws IOException, GeneralSecurityException {
        List<X509Certificate> certificates = new ArrayList<>();
        try (InputStream in = Files.newInputStream(Path.of(file))) {
            for (var certificate : factory.generateCertificates(in)) {
                certificates.add((X509Certificate) certificate);
            }
        }
        if (certificates.isEmpty()) {
            throw new IllegalArgumentException(file + " holds no certificate");
        }
        return certificates;
    }

    /**
     * OCSPRequest (RFC 6960 §4.1.1) for one CertID: SHA-1 of the issuer's DER name and of
     * its public key's BIT STRING, and the serial. No nonce: the JDK, given a response,
     * checks none (RFC 5019 responders answer from a cache, without nonces).
     */
    static byte[] request(X509Certificate leaf, X509Certificate issuer) throws GeneralSecurityException {
        MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
        byte[] nameHash = sha1.digest(issuer.getSubjectX500Principal().getEncoded());
        byte[] keyHash = sha1.digest(Der.subjectPublicKeyBits(issuer.getPublicKey().getEncoded()));
        byte[] certId = Der.sequence(
                Der.sequence(Der.oid(SHA1), Der.nullValue()),
                Der.octetString(nameHash),
                Der.octetString(keyHash),
                Der.integer(leaf.getSerialNumber()));
        byte[] request = Der.sequence(certId);
        byte[] tbsRequest = Der.sequence(Der.sequence(request));
        return Der.sequence(tbsRequest);
    }

    static byte[] fetch(String url, byte[] request) throws IOException, InterruptedException {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        HttpRequest post = HttpRequest.newBuilder(URI.create(url))
                .timeout(Duration.ofSeconds(10))
                .header("Content-Type", "application/ocsp-request")
                .POST(HttpRequest.BodyPublishers.ofByteArray(request))
                .build();
        HttpResponse<byte[]> response = client.send(post, HttpResponse.BodyHandlers.ofByteArray());
        if (response.statusCode() != 200) {
            throw new IOException(url + ": HTTP " + response.statusCode());
        }
        return response.body();
    }

    /**
     * The OCSP URL in the certificate's authorityInfoAccess: the accessLocation
     * uniformResourceIdentifier ([6] IA5String) that follows id-ad-ocsp.
     */
    static String ocspUrl(X509Certificate cert) {
        byte[] extension = cert.getExtensionValue(AIA);
        if (extension != null) {
            for (int i = 0; i + ID_AD_OCSP.length + 2 < extension.length; i++) {
                if (startsWith(extension, i, ID_AD_OCSP) && (extension[i + ID_AD_OCSP.length] & 0xff) == 0x86) {
                    int length = extension[i + ID_AD_OCSP.length + 1] & 0xff;
                    int start = i + ID_AD_OCSP.length + 2;
                    if (length < 0x80 && start + length <= extension.length) {
                        return new String(extension, start, length, StandardCharsets.US_ASCII);
                    }
                }
            }
        }
        throw new IllegalArgumentException("the certificate names no OCSP responder; give --url");
    }

    private static boolean startsWith(byte[] data, int at, byte[] prefix) {
        for (int i = 0; i < prefix.length; i++) {
            if (data[at + i] != prefix[i]) {
                return false;
            }
        }
        return true;
    }
}
