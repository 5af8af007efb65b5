export * from "hls.js";
import Hls from "hls.js";
export default Hls;
