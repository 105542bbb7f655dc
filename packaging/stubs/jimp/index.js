throw new Error("jimp is stubbed out by show-attend-tell; images are decoded with sharp");
